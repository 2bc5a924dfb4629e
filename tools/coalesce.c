/* SPDX-License-Identifier: MIT */
/* tunbatch coalesce: replays a capture through the coalescer the way a tunnel
 * would, one receive burst at a time, and reports the TUN writes it made. */
#include "cli.h"
#include "pcap_in.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tunbatch.h>

#define DEFAULT_BATCH 64
#define MAX_BATCH     65536

struct opts {
	unsigned batch;
	unsigned swap;	/* swap one adjacent pair in every swap packets; 0: none */
	unsigned flags; /* TB_COALESCE_* */
	int json;
	const char *vnet_log;
	const char *in;
	const char *out;
};

struct result {
	const struct opts *o;
	const char *link;
	struct pcap_in_stats in;
	struct tb_stats st;
	unsigned lanes;
};

void cmd_coalesce_usage(FILE *f)
{
	fprintf(f,
		"usage: tunbatch coalesce [OPTIONS] IN.pcap [OUT.pcap]\n\n"
		"Commits the IP packets of IN.pcap to a coalescer N at a time, flushing after\n"
		"each batch, and prints what the TUN writes would have been.\n\n"
		"  IN.pcap            raw IP, Ethernet (802.1Q tags too) or Linux cooked (SLL,\n"
		"                     SLL2) capture; '-' reads standard input\n"
		"  OUT.pcap           every write, in order, as a raw IP record (no virtio "
		"header)\n"
		"  --batch N          packets per flush, 1..%u (default %u)\n"
		"  --no-tcp           TCP is not merged: it passes through\n"
		"  --no-udp           UDP is not merged: it passes through\n"
		"  --verify-csum      verify TCP/UDP checksums before merging\n"
		"  --swap N           swap one adjacent pair in every N packets of a batch,\n"
		"                     2..%u, as a network that reorders would\n"
		"  --order            restore the capture's order in each batch first\n"
		"                     (TB_COALESCE_ORDER, the packet's index as its key)\n"
		"  --json             print the summary as one JSON object\n"
		"  --vnet-log FILE    one JSON line per write describing its virtio header\n"
		"  -h, --help         this text\n\n"
		"Exit status: 0 done; 1 an output could not be written, or out of memory; 2 bad\n"
		"usage, an input that can't be used, or an output file that can't be created or\n"
		"is the input file.\n",
		MAX_BATCH, DEFAULT_BATCH, MAX_BATCH);
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "tunbatch coalesce: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see tunbatch coalesce --help)\n");
	return CLI_USAGE;
}

static int number(const char *arg, const char *opt, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || n < lo || n > hi) {
		fprintf(stderr, "tunbatch coalesce: %s '%s': expected a number from %u to %u\n",
			opt, arg, lo, hi);
		return -1;
	}
	*out = (unsigned)n;
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	enum {
		OPT_BATCH = 256,
		OPT_NO_TCP,
		OPT_NO_UDP,
		OPT_VERIFY,
		OPT_JSON,
		OPT_VNET,
		OPT_SWAP,
		OPT_ORDER
	};
	static const struct option longopts[] = {
		{"batch", required_argument, NULL, OPT_BATCH},
		{"no-tcp", no_argument, NULL, OPT_NO_TCP},
		{"no-udp", no_argument, NULL, OPT_NO_UDP},
		{"verify-csum", no_argument, NULL, OPT_VERIFY},
		{"json", no_argument, NULL, OPT_JSON},
		{"vnet-log", required_argument, NULL, OPT_VNET},
		{"swap", required_argument, NULL, OPT_SWAP},
		{"order", no_argument, NULL, OPT_ORDER},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	*o = (struct opts){.batch = DEFAULT_BATCH};
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_BATCH:
			if (number(optarg, "--batch", 1, MAX_BATCH, &o->batch))
				return CLI_USAGE;
			break;
		case OPT_SWAP:
			if (number(optarg, "--swap", 2, MAX_BATCH, &o->swap))
				return CLI_USAGE;
			break;
		case OPT_ORDER:
			o->flags |= TB_COALESCE_ORDER;
			break;
		case OPT_NO_TCP:
			o->flags |= TB_COALESCE_NO_TCP;
			break;
		case OPT_NO_UDP:
			o->flags |= TB_COALESCE_NO_UDP;
			break;
		case OPT_VERIFY:
			o->flags |= TB_COALESCE_VERIFY_CSUM;
			break;
		case OPT_JSON:
			o->json = 1;
			break;
		case OPT_VNET:
			o->vnet_log = optarg;
			break;
		case 'h':
			cmd_coalesce_usage(stdout);
			return -1;
		case ':':
			return usage_error("option '%s' needs an argument", argv[optind - 1]);
		default:
			if (optopt) {
				char s[3] = {'-', (char)optopt, 0};
				return usage_error("unknown option '%s'", s);
			}
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return usage_error("%s", "missing IN.pcap");
	o->in = argv[optind++];
	if (optind < argc)
		o->out = argv[optind++];
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	return 0;
}

/* Without OUT.pcap the writes are only counted; the offloads are still
 * advertised so that the coalescer merges as it would on a real TUN. */
static int count_write(struct tb_writer *w, const void *pkt, size_t len)
{
	return 0;
}

static int count_write_gso(struct tb_writer *w, const struct tb_superpacket *sp)
{
	return 0;
}

static struct tb_writer counting_writer = {
	.write = count_write, .write_gso = count_write_gso, .caps = TB_CAP_TSO | TB_CAP_USO};

static int same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return !stat(a, &sa) && !stat(b, &sb) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static double ratio(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0.0;
}

/* The reasons with a count, most frequent first; ties in enum order. */
static unsigned why_order(const struct tb_stats *st, enum tb_why order[TB_WHY_COUNT], int all)
{
	unsigned n = 0;

	for (int w = 0; w < TB_WHY_COUNT; w++) {
		unsigned i;

		if (!all && !st->why[w])
			continue;
		for (i = n; i > 0 && st->why[order[i - 1]] < st->why[w]; i--)
			order[i] = order[i - 1];
		order[i] = (enum tb_why)w;
		n++;
	}
	return n;
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void print_json(FILE *f, const struct result *r)
{
	const struct tb_stats *st = &r->st;
	enum tb_why order[TB_WHY_COUNT];
	unsigned n = why_order(st, order, 1);
	const char *sep = "";

	fprintf(f, "{\"input\":");
	json_string(f, r->o->in);
	fprintf(f, ",\"output\":");
	if (r->o->out)
		json_string(f, r->o->out);
	else
		fprintf(f, "null");
	fprintf(f, ",\"link_type\":\"%s\",\"batch\":%u,\"lanes\":[", r->link, r->o->batch);
	for (int l = 0; l < TB_LANE_COUNT; l++) {
		if (!(r->lanes & (1u << l)))
			continue;
		fprintf(f, "%s\"%s\"", sep, tb_lane_name((enum tb_lane)l));
		sep = ",";
	}
	fprintf(f,
		"],\"records\":%llu,\"non_ip_skipped\":%llu,\"snap_truncated\":%llu,"
		"\"packets_in\":%llu,\"bytes_in\":%llu,\"lane_packets\":{",
		(unsigned long long)r->in.records, (unsigned long long)r->in.non_ip,
		(unsigned long long)r->in.snap_trunc, (unsigned long long)st->pkts_in,
		(unsigned long long)st->bytes_in);
	for (int l = 0; l < TB_LANE_COUNT; l++)
		fprintf(f, "%s\"%s\":%llu", l ? "," : "", tb_lane_name((enum tb_lane)l),
			(unsigned long long)st->lane_pkts[l]);
	fprintf(f,
		"},\"pure_acks\":%llu,\"writes\":%llu,\"bytes_out\":%llu,"
		"\"packets_per_write\":%.2f,\"superpackets\":%llu,\"segments\":%llu,"
		"\"segments_per_superpacket\":%.2f,\"single_writes\":%llu,\"why\":{",
		(unsigned long long)st->pure_acks, (unsigned long long)st->writes,
		(unsigned long long)st->bytes_out, ratio(st->pkts_in, st->writes),
		(unsigned long long)st->superpackets, (unsigned long long)st->segments,
		ratio(st->segments, st->superpackets),
		(unsigned long long)(st->writes - st->superpackets));
	for (unsigned i = 0; i < n; i++)
		fprintf(f, "%s\"%s\":%llu", i ? "," : "", tb_why_name(order[i]),
			(unsigned long long)st->why[order[i]]);
	fprintf(f,
		"},\"write_errors\":%llu,\"fallbacks\":%llu,\"swap\":%u,\"order\":%s,"
		"\"displaced\":%llu}\n",
		(unsigned long long)st->write_errors, (unsigned long long)st->fallbacks, r->o->swap,
		r->o->flags & TB_COALESCE_ORDER ? "true" : "false",
		(unsigned long long)st->displaced);
}

static void print_text(FILE *f, const struct result *r)
{
	const struct tb_stats *st = &r->st;
	enum tb_why order[TB_WHY_COUNT];
	unsigned n = why_order(st, order, 0);

	fprintf(f, "input            %s (%s, %llu records)\n", r->o->in, r->link,
		(unsigned long long)r->in.records);
	fprintf(f, "batch            %u packets per flush; merging:", r->o->batch);
	if (!(r->lanes & (1u << TB_LANE_TCP)) && !(r->lanes & (1u << TB_LANE_UDP)))
		fprintf(f, " none");
	if (r->lanes & (1u << TB_LANE_TCP))
		fprintf(f, " tcp");
	if (r->lanes & (1u << TB_LANE_UDP))
		fprintf(f, " udp");
	fprintf(f, "\n");
	fprintf(f, "packets in       %llu (%llu bytes)\n", (unsigned long long)st->pkts_in,
		(unsigned long long)st->bytes_in);
	for (int l = 0; l < TB_LANE_COUNT; l++)
		fprintf(f, "  %-14s %llu\n", tb_lane_name((enum tb_lane)l),
			(unsigned long long)st->lane_pkts[l]);
	fprintf(f, "  %-14s %llu\n", "pure acks", (unsigned long long)st->pure_acks);
	fprintf(f, "writes out       %llu (%llu bytes)\n", (unsigned long long)st->writes,
		(unsigned long long)st->bytes_out);
	fprintf(f, "packets/write    %.2f\n", ratio(st->pkts_in, st->writes));
	fprintf(f, "superpackets     %llu holding %llu packets, %.2f per superpacket\n",
		(unsigned long long)st->superpackets, (unsigned long long)st->segments,
		ratio(st->segments, st->superpackets));
	fprintf(f, "single writes    %llu\n", (unsigned long long)(st->writes - st->superpackets));
	if (r->o->swap)
		fprintf(f, "swapped          one adjacent pair in every %u packets\n", r->o->swap);
	if (r->o->flags & TB_COALESCE_ORDER)
		fprintf(f, "order restored   %llu packets arrived displaced\n",
			(unsigned long long)st->displaced);
	fprintf(f, "chains sealed by");
	if (!n)
		fprintf(f, " -");
	for (unsigned i = 0; i < n; i++)
		fprintf(f, " %s %llu%s", tb_why_name(order[i]),
			(unsigned long long)st->why[order[i]], i + 1 < n ? "," : "");
	fprintf(f, "\n");
	if (st->write_errors || st->fallbacks)
		fprintf(f, "write errors     %llu (%llu superpackets rewritten as packets)\n",
			(unsigned long long)st->write_errors, (unsigned long long)st->fallbacks);
	if (r->in.non_ip)
		fprintf(f, "skipped          %llu frames without an IP packet\n",
			(unsigned long long)r->in.non_ip);
	if (r->in.snap_trunc)
		fprintf(f, "snap-truncated   %llu records shorter than on the wire\n",
			(unsigned long long)r->in.snap_trunc);
}

/*
 * Reads every packet into the coalescer, a batch at a time, keyed by its
 * index in the capture: the sender's order. With --swap the second packet
 * of a pair is committed before the first.
 */
static int replay(struct pcap_in *in, struct tb_coalescer *c, const struct opts *o)
{
	char err[512];
	const uint8_t *pkt;
	size_t len, held_len = 0;
	void *held = NULL;
	uint64_t index = 0, held_index = 0;
	unsigned n = 0;
	int rc;

	while ((rc = pcap_in_next(in, &pkt, &len, err, sizeof(err))) == 1) {
		/* The tunnel would decrypt into this buffer; a copy stands in. */
		void *buf = tb_coalescer_reserve(c, len);

		if (!buf) {
			fprintf(stderr, "tunbatch coalesce: out of memory\n");
			return CLI_FAIL;
		}
		memcpy(buf, pkt, len);
		n++;
		if (o->swap && n % o->swap == o->swap - 1 && n < o->batch) {
			held = buf;
			held_len = len;
			held_index = index++;
			continue;
		}
		tb_coalescer_commit_key(c, buf, len, 0, index++);
		if (held) {
			tb_coalescer_commit_key(c, held, held_len, 0, held_index);
			held = NULL;
		}
		if (n == o->batch) {
			tb_coalescer_flush(c); /* errors are counted in the stats */
			n = 0;
		}
	}
	if (held)
		tb_coalescer_commit_key(c, held, held_len, 0, held_index);
	tb_coalescer_flush(c);
	if (rc < 0) {
		fprintf(stderr, "tunbatch: %s: %s\n", o->in, err);
		return CLI_USAGE;
	}
	return CLI_OK;
}

static int close_out(FILE *f, const char *path)
{
	int bad;

	if (!f)
		return 0;
	bad = ferror(f);
	if (fclose(f) || bad) {
		fprintf(stderr, "tunbatch: %s: write error: %s\n", path,
			strerror(errno ? errno : EIO));
		return -1;
	}
	return 0;
}

int cmd_coalesce(int argc, char **argv)
{
	struct opts o;
	struct result r = {0};
	char err[512];
	struct pcap_in *in = NULL;
	FILE *out = NULL, *log = NULL;
	struct tb_pcap_writer *pw = NULL;
	struct tb_writer *w = &counting_writer;
	struct tb_arena *arena = NULL;
	struct tb_coalescer *c = NULL;
	int rc = parse_args(argc, argv, &o);

	if (rc)
		return rc < 0 ? CLI_OK : rc;
	r.o = &o;
	in = pcap_in_open(o.in, err, sizeof(err));
	if (!in) {
		fprintf(stderr, "tunbatch: %s: %s\n", o.in, err);
		return CLI_USAGE;
	}
	/* Opening the output truncates it: never let that be the input. */
	if ((o.out && same_file(o.in, o.out)) || (o.vnet_log && same_file(o.in, o.vnet_log))) {
		fprintf(stderr, "tunbatch: %s: is also the input file\n",
			o.out && same_file(o.in, o.out) ? o.out : o.vnet_log);
		rc = CLI_USAGE;
		goto done;
	}
	if (o.out || o.vnet_log) {
		const char *opath = o.out ? o.out : "/dev/null";

		out = fopen(opath, "wb");
		if (!out) {
			fprintf(stderr, "tunbatch: %s: %s\n", opath, strerror(errno));
			rc = CLI_USAGE;
			goto done;
		}
		if (o.vnet_log && !(log = fopen(o.vnet_log, "w"))) {
			fprintf(stderr, "tunbatch: %s: %s\n", o.vnet_log, strerror(errno));
			rc = CLI_USAGE;
			goto done;
		}
		pw = tb_pcap_writer_create(out, log, TB_CAP_TSO | TB_CAP_USO);
		if (!pw) {
			fprintf(stderr, "tunbatch: %s: %s\n", opath, strerror(errno));
			rc = CLI_FAIL;
			goto done;
		}
		w = tb_pcap_writer_writer(pw);
	}
	arena = tb_arena_create(0);
	c = arena ? tb_coalescer_create(
			    w, arena,
			    &(struct tb_coalescer_opts){
				    .flags = o.flags,
				    .max_pkts = o.batch > TB_COALESCE_MAX_PKTS ? o.batch : 0,
			    })
		  : NULL;
	if (!c) {
		fprintf(stderr, "tunbatch coalesce: %s\n", strerror(errno ? errno : ENOMEM));
		rc = CLI_FAIL;
		goto done;
	}
	rc = replay(in, c, &o);
	tb_coalescer_stats(c, &r.st);
	r.lanes = tb_coalescer_lanes(c);
	r.in = *pcap_in_stats(in);
	r.link = pcap_in_link_name(in);
	tb_pcap_writer_destroy(pw);
	pw = NULL;
	if (close_out(out, o.out ? o.out : "/dev/null") && !rc)
		rc = CLI_FAIL;
	out = NULL;
	if (close_out(log, o.vnet_log) && !rc)
		rc = CLI_FAIL;
	log = NULL;
	if (rc)
		goto done;
	if (r.st.write_errors) {
		fprintf(stderr, "tunbatch: %s: %llu writes failed\n", o.out ? o.out : o.vnet_log,
			(unsigned long long)r.st.write_errors);
		rc = CLI_FAIL;
	}
	if (o.json)
		print_json(stdout, &r);
	else
		print_text(stdout, &r);
	if (fflush(stdout) && !rc)
		rc = CLI_FAIL;
done:
	tb_coalescer_destroy(c);
	tb_arena_destroy(arena);
	tb_pcap_writer_destroy(pw);
	if (out)
		fclose(out);
	if (log)
		fclose(log);
	pcap_in_close(in);
	return rc;
}
