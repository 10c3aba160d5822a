"""Valid Italian fiscal codes for tests (check character as in the Agenzia delle
Entrate algorithm; see ../shared/reference/notes/siuss-flows-and-codes.md §12)."""
import random
import string

_ODD = {
    **{d: v for d, v in zip("0123456789", [1, 0, 5, 7, 9, 13, 15, 17, 19, 21])},
    **dict(zip(string.ascii_uppercase,
               [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16,
                10, 22, 25, 24, 23])),
}
_EVEN = {**{d: int(d) for d in "0123456789"},
         **{c: i for i, c in enumerate(string.ascii_uppercase)}}
MONTHS = "ABCDEHLMPRST"


def check_char(first15: str) -> str:
    total = sum(_ODD[c] if i % 2 == 0 else _EVEN[c] for i, c in enumerate(first15))
    return chr(ord("A") + total % 26)


def make(sex="M", birth="1980-01-01", place="F205", letters=None):
    """A valid fiscal code for the given sex, birth date (YYYY-MM-DD) and Belfiore place."""
    y, m, d = birth.split("-")
    letters = letters or "".join(random.choice(string.ascii_uppercase) for _ in range(6))
    day = int(d) + (40 if sex == "F" else 0)
    first15 = "%s%s%s%02d%s" % (letters, y[2:], MONTHS[int(m) - 1], day, place)
    return first15 + check_char(first15)


def person(sex="M", birth="1980-01-01", place="F205", surname=None, given_name=None):
    """A person body with a fresh, valid fiscal code and random names."""
    tag = "".join(random.choice(string.ascii_lowercase) for _ in range(8))
    return {
        "fiscal_code": make(sex, birth, place),
        "surname": surname or "Rossi" + tag,
        "given_name": given_name or ("Mario" if sex == "M" else "Maria") + tag[:3],
        "sex": sex,
        "birth_date": birth,
        "birth_place": place,
        "citizenship": "380",
        "residence": "015093",
        "address": {"line": "Via Roma %d" % random.randint(1, 200), "postal_code": "20094",
                    "istat_code": "015093"},
        "contacts": [{"kind": "mobile", "value": "+39 333 %07d" % random.randint(0, 9999999)}],
    }


assert make("M", "1980-01-01", "F205", "RSSMRA") == "RSSMRA80A01F205X"
