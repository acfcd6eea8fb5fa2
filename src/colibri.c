/*
 * colibri.c - the operator CLI's main; everything else is in cli.c and
 * the library, so tests can drive the same code.
 */
#include "autoconf.h"

#include "cli.h"

int
main(int argc, char **argv)
{
    return cli_main(argc, argv);
}
