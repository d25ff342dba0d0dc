/* SPDX-License-Identifier: MIT */
/*
 * cmd_bench.c - `mballoc bench`: speed, scaling and fragmentation of the
 * allocator side by side with peers measured in the same run (libext2fs,
 * a naive global-mutex first-fit bitmap, optionally kernel ext4).  Each
 * row prints the ratio mballoc / peer; nothing here asserts a timing.
 * The workloads live in bench_*.c, the peers in bench/.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench_int.h"
#include "cli.h"

static const struct {
	const char *name;
	int (*run)(const struct mb_bench_cfg *c);
	const char *what;
} mb_workloads[] = {
    {"pa", mb_bench_pa, "one file asking 1 block at a time (preallocation fast path)"},
    {"fill", mb_bench_fill, "1/16/256-block requests at 0-99% full, seq or aged, 3 goals"},
    {"churn", mb_bench_churn, "Ceph-style aging between high and low marks"},
    {"threads", mb_bench_threads, "churn of per-thread files at 1..80 threads"},
    {"files", mb_bench_files, "concurrent sequential writers + many small files"},
    {"huge", mb_bench_huge, "16 TiB and 1 PiB volumes: creation, memory, latency"},
    {"matrix", mb_bench_matrix, "vs --peer: fills x len 1/16/256 x goals x 1-2 threads"},
    {"bench", mb_bench_cephbench, "vs --peer: Ceph's Allocator_bench 'bench' shape"},
    {"90_300", mb_bench_90_300, "vs --peer: Ceph's '90_300' (fill 90%, overwrite 3x)"},
    {"aging", mb_bench_aging, "vs --peer: Ceph's aging protocol, two size generators"},
    {"drain", mb_bench_drain, "vs --peer: the last 10% of an aged 90% volume, to 0"},
};
#define MB_NWORK (sizeof(mb_workloads) / sizeof(mb_workloads[0]))

static void mb_bench_usage(FILE *f)
{
	fprintf(f, "usage: mballoc bench [options]\n"
		   "Measures the allocator and its peers in the same run; prints ratios.\n"
		   "  --workload LIST    comma-separated, or 'all' (default):\n");
	for (size_t i = 0; i < MB_NWORK; i++)
		fprintf(f, "                       %-8s %s\n", mb_workloads[i].name,
			mb_workloads[i].what);
	fprintf(f, "  --quick            tiny sizes: every workload in well under a minute\n"
		   "  --seconds S        measuring time per allocator and row (default 0.2,\n"
		   "                     quick 0.01)\n"
		   "  --block-size SIZE  1K..64K (default 4K)\n"
		   "  --sample N         time 1 call in N for latency (default per workload)\n"
		   "  --seed N           workload seed (default 1)\n"
		   "  --kernel           also run bench/kernel_ext4.sh (root, loop device)\n"
		   "  --peer LIST        peers of matrix/bench/90_300/aging/drain: naive,\n"
		   "                     ceph-stupid, ceph-avl, ceph-bitmap (ceph = all three),\n"
		   "                     spdk-bitpool (spdk); built here:");
	for (int i = 0; i < MB_PEER_COUNT; i++)
		if (mb_side_built_peers() & (1u << i))
			fprintf(f, " %s", mb_side_peer_name(i));
	fprintf(f, "\n"
		   "  --size SIZE        their volume size (defaults: matrix, drain 32G;\n"
		   "                     bench, aging 64G; 90_300 16G; quick 64M/256M)\n"
		   "  --cells LIST       matrix cells only: fills (empty seq50 seq90 aged50\n"
		   "                     aged90), lens (1 16 256, or any other number of\n"
		   "                     blocks up to 1048576), goals (zero next random),\n"
		   "                     threads (1thr 2thr); a dimension not named runs all\n"
		   "  --json             one JSON object on stdout\n"
		   "  -h, --help\n");
}

static int mb_bench_parse(int argc, char **argv, struct mb_bench_cfg *c, const char **list,
			  bool *json)
{
	static const struct option lo[] = {
	    {"workload", required_argument, 0, 'w'}, {"quick", no_argument, 0, 'q'},
	    {"seconds", required_argument, 0, 't'},  {"block-size", required_argument, 0, 'b'},
	    {"sample", required_argument, 0, 'n'},   {"seed", required_argument, 0, 'S'},
	    {"kernel", no_argument, 0, 'k'},	     {"json", no_argument, 0, 'j'},
	    {"peer", required_argument, 0, 'p'},     {"size", required_argument, 0, 'z'},
	    {"cells", required_argument, 0, 'c'},    {"help", no_argument, 0, 'h'},
	    {0, 0, 0, 0},
	};
	char bad[64];
	uint64_t v;
	double secs = -1;
	int ch;

	optind = 1;
	opterr = 0; /* our own message, in the CLI's format */
	while ((ch = getopt_long(argc, argv, "hw:", lo, NULL)) != -1) {
		bool ok = true;

		switch (ch) {
		case 'w':
			*list = optarg;
			break;
		case 'q':
			c->quick = true;
			break;
		case 't':
			ok = mb_parse_double(optarg, &secs) && secs > 0 && secs < 3600;
			break;
		case 'b':
			ok =
			    !mb_parse_size(optarg, &v) && v >= 1024 && v <= 65536 && !(v & (v - 1));
			c->block_size = (uint32_t)v;
			break;
		case 'n':
			ok = mb_parse_u64(optarg, &v) && v > 0 && v < (1u << 30);
			c->sample = v;
			break;
		case 'S':
			ok = mb_parse_u64(optarg, &c->seed) && c->seed;
			break;
		case 'k':
			c->kernel = true;
			break;
		case 'p':
			if (mb_side_parse_peers(optarg, &c->peers, bad, sizeof(bad)))
				return mb_cli_usage_err("bench", "unknown peer '%s'", bad);
			for (int i = 0; i < MB_PEER_COUNT; i++)
				if ((c->peers & (1u << i)) && !(mb_side_built_peers() & (1u << i)))
					return mb_cli_usage_err(
					    "bench",
					    "peer '%s' is not built in (cmake -DMB_%s_SRC=...)",
					    mb_side_peer_name(i),
					    i == MB_PEER_SPDK ? "SPDK" : "CEPH");
			break;
		case 'z':
			ok = !mb_parse_size(optarg, &v) && v >= (16ULL << 20) && v <= (1ULL << 50);
			c->size = v;
			break;
		case 'c':
			ok = mb_bench_matrix_cells_valid(optarg);
			c->cells = optarg;
			break;
		case 'j':
			*json = true;
			break;
		case 'h':
			mb_bench_usage(stdout);
			exit(MB_EXIT_OK);
		case '?':
			return mb_cli_bad_option("bench", argv);
		default:
			return MB_EXIT_USAGE;
		}
		if (!ok)
			return mb_cli_usage_err("bench", "invalid value '%s'", optarg);
	}
	if (optind < argc)
		return mb_cli_usage_err("bench", "unexpected argument '%s'", argv[optind]);
	c->secs = secs > 0 ? secs : c->quick ? 0.01 : 0.2;
	if (!c->peers)
		c->peers = mb_side_default_peers();
	return 0;
}

/* Resolves one workload name; -1 if unknown. */
static int mb_workload_index(const char *name, size_t len)
{
	for (size_t i = 0; i < MB_NWORK; i++)
		if (strlen(mb_workloads[i].name) == len &&
		    !strncmp(mb_workloads[i].name, name, len))
			return (int)i;
	return -1;
}

static int mb_bench_select(const char *list, bool *sel)
{
	if (!strcmp(list, "all")) {
		for (size_t i = 0; i < MB_NWORK; i++)
			sel[i] = true;
		return 0;
	}
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ",");
		int i = mb_workload_index(p, n);

		if (i < 0)
			return mb_cli_usage_err("bench", "unknown workload '%.*s'", (int)n, p);
		sel[i] = true;
		p += n + (p[n] == ',');
	}
	return 0;
}

static void mb_machine_json(char *buf, size_t n)
{
	struct utsname u;
	char model[128] = "?";
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
			snprintf(model, sizeof(model), "%s", strchr(line, ':') + 2);
			model[strcspn(model, "\n\"\\")] = 0;
			break;
		}
	if (f)
		fclose(f);
	uname(&u);
	snprintf(buf, n,
		 "{\"cpu\":\"%s\",\"online_cpus\":%ld,\"kernel\":\"%s\",\"mballoc\":\"%s\","
		 "\"libext2fs\":%s}",
		 model, sysconf(_SC_NPROCESSORS_ONLN), u.release, mb_version(),
		 mb_bench_ext2fs_available() ? "true" : "false");
}

int mb_cmd_bench(int argc, char **argv)
{
	bool failed = false;
	struct mb_bench_cfg c = {.seed = 1, .block_size = 4096, .failed = &failed};
	struct mb_bench_out out;
	const char *list = "all";
	bool json = false, sel[MB_NWORK] = {false};
	char machine[512], script[4096];
	int rc = mb_bench_parse(argc, argv, &c, &list, &json);

	if (rc || (rc = mb_bench_select(list, sel)))
		return rc;
	if (mb_bench_out_init(&out, json, c.quick)) {
		mb_cli_err("bench", "out of memory");
		return MB_EXIT_FAIL;
	}
	c.out = &out;
	c.kernel_script = mb_bench_kernel_script(script, sizeof(script));
	mb_machine_json(machine, sizeof(machine));
	if (!json)
		printf(
		    "mballoc bench%s: %s; ratios are mballoc ops/s / peer ops/s in the same run\n",
		    c.quick ? " --quick" : "", machine);
	for (size_t i = 0; i < MB_NWORK && !rc; i++)
		if (sel[i] && mb_workloads[i].run(&c))
			rc = MB_EXIT_FAIL;
	mb_bench_out_finish(&out, machine);
	mb_bench_ext2fs_cleanup();
	if (!rc && failed) {
		mb_cli_err("bench", "a correctness check failed (see the BUG notes)");
		rc = MB_EXIT_FAIL;
	}
	return rc;
}
