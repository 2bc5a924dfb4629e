/* SPDX-License-Identifier: MIT */
/* tunbatch genkey: a new random pre-shared key for `tunbatch tunnel`. */
#include "cli.h"
#include "tunnel_wire.h"

#include <openssl/crypto.h>
#include <string.h>

void cmd_genkey_usage(FILE *f)
{
	fprintf(f, "usage: tunbatch genkey > KEYFILE\n\n"
		   "Prints a new random 32-byte key, in base64, for tunbatch tunnel --key.\n"
		   "Both ends of a tunnel use the same key file; keep it readable by root only\n"
		   "(umask 077).\n");
}

int cmd_genkey(int argc, char **argv)
{
	uint8_t key[TW_KEY_LEN];
	char text[TW_KEY_B64_LEN + 1];

	if (argc > 1) {
		if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
			cmd_genkey_usage(stdout);
			return CLI_OK;
		}
		fprintf(stderr,
			"tunbatch genkey: takes no arguments (see tunbatch genkey --help)\n");
		return CLI_USAGE;
	}
	if (tw_key_random(key)) {
		fprintf(stderr, "tunbatch genkey: libcrypto's random generator failed\n");
		return CLI_FAIL;
	}
	tw_key_encode(key, text);
	OPENSSL_cleanse(key, sizeof(key));
	printf("%s\n", text);
	OPENSSL_cleanse(text, sizeof(text));
	return fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
}
