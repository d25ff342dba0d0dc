/* SPDX-License-Identifier: MIT */
#include "cli.h"
int mb_cmd_freefrag(int argc, char **argv) { (void)argc; (void)argv; return 1; }
