/* SPDX-License-Identifier: MIT */
/* tunbatch: subcommand dispatch. */
#include "cli.h"

#include <string.h>
#include <tunbatch.h>

struct command {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
	void (*usage)(FILE *f);
};

static const struct command commands[] = {
	{"coalesce", "replay a capture through the coalescer, report the TUN writes", cmd_coalesce,
	 cmd_coalesce_usage},
	{"tunnel", "an encrypted point-to-point tunnel over batched UDP", cmd_tunnel,
	 cmd_tunnel_usage},
	{"genkey", "print a new random key for tunnel, in base64", cmd_genkey, cmd_genkey_usage},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: tunbatch COMMAND [OPTIONS] [ARGS]\n"
		   "       tunbatch help [COMMAND]\n"
		   "       tunbatch -h | --help\n"
		   "       tunbatch -V | --version\n\n"
		   "commands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nRun 'tunbatch COMMAND --help' for a command's options. -h, --help and help\n"
		   "print this text, -V and --version the version, and exit 0. With no arguments\n"
		   "this text goes to standard error and the exit status is 2, as for an unknown\n"
		   "command; otherwise it is the command's.\n");
}

static const struct command *find(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	const struct command *cmd;

	if (argc < 2) {
		usage(stderr);
		return CLI_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return CLI_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("tunbatch %s (library %s)\n", TB_VERSION_STRING, tb_version());
		return CLI_OK;
	}
	if (!strcmp(argv[1], "help")) {
		if (argc < 3) {
			usage(stdout);
			return CLI_OK;
		}
		cmd = find(argv[2]);
		if (!cmd) {
			fprintf(stderr, "tunbatch: unknown command '%s' (try tunbatch --help)\n",
				argv[2]);
			return CLI_USAGE;
		}
		cmd->usage(stdout);
		return CLI_OK;
	}
	cmd = find(argv[1]);
	if (!cmd) {
		fprintf(stderr, "tunbatch: unknown command '%s' (try tunbatch --help)\n", argv[1]);
		return CLI_USAGE;
	}
	return cmd->run(argc - 1, argv + 1);
}
