"""A stand-in for PDND Interoperabilità in the API tests: its keys, the
e-service configuration Cartella reads (CARTELLA_PDND_CONFIG) and the
vouchers it signs. conftest.py's pdnd fixture makes one per session."""
import base64
import hashlib
import hmac
import json
import os
import secrets
import time
import uuid


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Pdnd:
    """A stand-in for PDND Interoperabilità: an RSA key published in a JWKS
    file, a configuration file for CARTELLA_PDND_CONFIG with one e-service,
    and vouchers signed like PDND's (typ at+jwt, RS256, kid).

        p = pdnd.purpose(tenant=CORSICO, scopes=["siuss"])
        with spawn_server(CARTELLA_PDND_CONFIG=pdnd.config([p])) as srv:
            requests.get(srv.url + ..., headers=pdnd.bearer(p))

    voucher(purpose, header=..., key=..., alg=..., **claims) overrides any
    header member or claim (None deletes it); alg "none" and "HS256" (keyed
    with the public key's PEM, the classic key confusion) sign otherwise."""

    ISSUER = "uat.interop.pagopa.it"

    def __init__(self, directory, default_tenant):
        from cryptography.hazmat.primitives.asymmetric import rsa
        self.dir = directory
        self.default_tenant = default_tenant
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "kid-" + secrets.token_hex(6)
        self.eservice_id = str(uuid.uuid4())
        self.producer_id = str(uuid.uuid4())
        self.audience = "https://cartella.test/waas/v1/" + secrets.token_hex(4)
        self.jwks_file = os.path.join(directory, "jwks-%s.json" % secrets.token_hex(4))
        self.write_jwks(self.jwks_file, [(self.key, self.kid)])

    @staticmethod
    def jwk(key, kid):
        nums = key.public_key().public_numbers()
        n = nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")
        e = nums.e.to_bytes((nums.e.bit_length() + 7) // 8, "big")
        return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                "n": _b64url(n), "e": _b64url(e)}

    def write_jwks(self, path, keys):
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"keys": [self.jwk(k, kid) for k, kid in keys]}, f)
        return path

    def purpose(self, tenant=None, scopes=("siuss",)):
        return {"purpose_id": str(uuid.uuid4()), "consumer_id": str(uuid.uuid4()),
                "tenant": tenant or self.default_tenant, "scopes": list(scopes)}

    def config(self, purposes, **eservice):
        """Writes a configuration with one e-service (members overridable)
        and returns its path."""
        es = {"id": self.eservice_id, "audience": self.audience, "issuer": self.ISSUER,
              "jwks_file": os.path.basename(self.jwks_file), "producer_id": self.producer_id,
              "max_age": 600, "purposes": list(purposes)}
        es.update(eservice)
        path = os.path.join(self.dir, "pdnd-%s.json" % secrets.token_hex(4))
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"eservices": [es]}, f)
        return path

    def voucher(self, purpose, header=None, key=None, alg="RS256", **claims):
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding
        now = int(time.time())
        client_id = str(uuid.uuid4())
        hdr = {"alg": "RS256", "typ": "at+jwt", "kid": self.kid}
        hdr.update(header or {})
        body = {"iss": self.ISSUER, "aud": self.audience, "sub": client_id,
                "client_id": client_id, "purposeId": purpose["purpose_id"],
                "consumerId": purpose["consumer_id"], "producerId": self.producer_id,
                "eserviceId": self.eservice_id, "descriptorId": str(uuid.uuid4()),
                "jti": str(uuid.uuid4()), "iat": now - 5, "nbf": now - 5, "exp": now + 600}
        body.update(claims)
        hdr = {k: v for k, v in hdr.items() if v is not None}
        body = {k: v for k, v in body.items() if v is not None}
        signing = (_b64url(json.dumps(hdr).encode()) + "." +
                   _b64url(json.dumps(body).encode())).encode()
        if alg == "none":
            sig = b""
        elif alg == "HS256":
            pem = self.key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            sig = hmac.new(pem, signing, hashlib.sha256).digest()
        else:
            sig = (key or self.key).sign(signing, padding.PKCS1v15(), hashes.SHA256())
        return signing.decode() + "." + _b64url(sig)

    def bearer(self, purpose, **kw):
        return {"Authorization": "Bearer " + self.voucher(purpose, **kw)}
