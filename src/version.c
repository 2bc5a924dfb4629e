/* SPDX-License-Identifier: MIT */
/* The version of the library actually linked. */
#include "tunbatch.h"

const char *tb_version(void)
{
	return TB_VERSION_STRING;
}
