/*
 * main: parses the subcommand and hands over. Nothing else lives here.
 */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "inferd: not yet\n");
    return 2;
}
