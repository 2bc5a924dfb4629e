/* SPDX-License-Identifier: MIT */
/* The tunbatch command line: one function per subcommand. */
#ifndef TB_TOOLS_CLI_H
#define TB_TOOLS_CLI_H

#include <stdio.h>

/* Exit statuses shared by every subcommand. */
enum {
	CLI_OK = 0,
	CLI_FAIL = 1,  /* the run failed: output could not be written, out of memory */
	CLI_USAGE = 2, /* bad command line, an input file that can't be used, a setup failure */
};

/* argv[0] is the subcommand's name. Returns the exit status. */
int cmd_coalesce(int argc, char **argv);
void cmd_coalesce_usage(FILE *f);
int cmd_genkey(int argc, char **argv);
void cmd_genkey_usage(FILE *f);
int cmd_tunnel(int argc, char **argv);
void cmd_tunnel_usage(FILE *f);

#endif
