/* `cartella user ...`: staff accounts from the command line. Passwords come
 * from a file or standard input, never from the command line. */
#ifndef CARTELLA_USER_CLI_H
#define CARTELLA_USER_CLI_H

/* Runs the subcommand in argv[0..argc). Returns the exit status. */
int user_cli(int argc, char **argv);

#endif
