/* SPDX-License-Identifier: MIT */
#include "cli.h"
int mb_cmd_stress(int argc, char **argv)
{
	(void)argc; (void)argv;
	mb_cli_err("stress", "not built yet");
	return MB_EXIT_FAIL;
}
