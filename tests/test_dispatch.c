/* SPDX-License-Identifier: MIT */
/*
 * Dispatch and parsing: what goes to passthrough, what is verbatim inside a
 * lane (malformed, truncated at every header boundary, lengths that lie, IP
 * options, fragments, IPv6 extension headers), trimming, lanes that are off,
 * checksum verification, bad arguments.
 */
#include "testutil.h"

#include <errno.h>
#include <string.h>

static struct tu_spec tcp(int v6)
{
	struct tu_spec s = tu_tcp(v6);

	s.len = 100;
	tu_set_ts(&s, 1, 2);
	return s;
}

static void passthrough(void **st)
{
	(void)st;
	struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
	struct tu_spec t = tcp(0), i4 = tu_icmp4(), i6 = tu_icmp6(), gre = tu_tcp4();
	uint8_t b[256], junk[64];
	size_t n;
	struct tb_stats s;

	for (size_t k = 0; k < sizeof(junk); k++)
		junk[k] = (uint8_t)(k * 13 + 5);
	gre.proto = 47;
	tu_add_next(h, &t);	  /* 0 */
	tu_add(h, &i4);		  /* 1 */
	tu_add(h, &i6);		  /* 2 */
	tu_add_next(h, &t);	  /* 3 */
	tu_add_bytes(h, junk, 0); /* 4: empty */
	tu_add_bytes(h, junk, 1); /* 5 */
	n = tu_build(&t, b, sizeof(b));
	tu_add_bytes(h, b, 19); /* 6: shorter than an IPv4 header */
	junk[0] = 0x55;
	tu_add_bytes(h, junk, 60); /* 7: IP version 5 */
	junk[0] = 0x00;
	tu_add_bytes(h, junk, 40); /* 8: version 0 */
	struct tu_spec t6 = tcp(1);
	n = tu_build(&t6, b, sizeof(b));
	tu_add_bytes(h, b, 39); /* 9: shorter than an IPv6 header */
	tu_add(h, &gre);	/* 10: another protocol */
	tu_add_next(h, &t);	/* 11 */
	tu_flush_expect(h, "[0 3 11] 1 2 4 5 6 7 8 9 10", "flush=1");
	tu_batch_stats(h, &s);
	assert_int_equal(s.lane_pkts[TB_LANE_PASS], 9);
	assert_int_equal(s.lane_pkts[TB_LANE_TCP], 3);
	(void)n;
	tu_free(h);
}

/* A packet of a lane whose headers can't be trusted seals every chain of
 * that lane (its flow is unknown), and no other lane's. */
static void malformed_seals_lane(void **st)
{
	(void)st;
	static const char *const what[] = {
		"tcp doff 4",	    "tcp doff past end", "ipv4 total < ihl", "ipv4 ihl 4",
		"ipv4 total > len", "ipv6 plen 0",	 "ipv6 plen > len",  "tcp header cut",
	};

	for (int v = 0; v < 8; v++) {
		struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
		int v6 = v == 5 || v == 6;
		struct tu_spec a = tcp(v6), b = tcp(v6), u = tu_udp(0), m = tcp(v6);
		uint8_t p[512];
		size_t n, ip = v6 ? 40 : 20;

		tu_context("%s", what[v]);
		b.sport = 9;
		m.sport = 77;
		n = tu_build(&m, p, sizeof(p));
		switch (v) {
		case 0:
			p[ip + 12] = 4 << 4;
			break;
		case 1:
			m.len = 0;
			n = tu_build(&m, p, sizeof(p));
			p[ip + 12] = 15 << 4;
			break;
		case 2:
			tu_put16(p + 2, 16);
			break;
		case 3:
			p[0] = 0x44;
			break;
		case 4:
			tu_put16(p + 2, (uint16_t)(n + 1));
			break;
		case 5:
			tu_put16(p + 4, 0);
			break;
		case 6:
			tu_put16(p + 4, (uint16_t)(n - 40 + 1));
			break;
		case 7:
			n = ip + 10;
			tu_put16(p + 2, (uint16_t)n);
			break;
		}
		if (!v6)
			tu_put16(p + 10, 0), tu_put16(p + 10, (uint16_t)~tu_fold(tu_sum(p, 20, 0)));
		tu_add_next(h, &a);    /* 0 */
		tu_add_next(h, &b);    /* 1 */
		tu_add_next(h, &u);    /* 2 */
		tu_add_next(h, &a);    /* 3 */
		tu_add_next(h, &b);    /* 4 */
		tu_add_bytes(h, p, n); /* 5 */
		tu_add_next(h, &a);    /* 6 */
		tu_add_next(h, &u);    /* 7 */
		tu_add_next(h, &b);    /* 8 */
		tu_add_next(h, &a);    /* 9 */
		tu_flush_expect(h, "[0 3] [1 4] 5 [6 9] 8 [2 7]", "malformed=1 flush=3");
		tu_free(h);
	}
	tu_context("%s", "");
}

/*
 * A packet cut at every length, its IP length left claiming the whole
 * (a length that lies) or fixed up to the cut. Between two pairs of
 * segments of its own flow, it must come out as committed, in order, and
 * seal the lane exactly when the rules say so.
 */
static void truncated_everywhere(void **st)
{
	(void)st;
	for (int c = 0; c < 4; c++) {
		int v6 = c & 1, is_tcp = c < 2;
		struct tu_spec s = is_tcp ? tcp(v6) : tu_udp(v6);
		size_t ip = v6 ? 40 : 20, l4 = is_tcp ? 32 : 8, full = ip + l4 + 100;

		for (size_t cut = 0; cut < full; cut++) {
			for (int fix = 0; fix < 2; fix++) {
				struct tu_h *h;
				uint8_t p[512];
				struct tu_spec x;
				const char *want;

				if (fix && cut < ip)
					continue;
				tu_context("%s%s cut at %zu%s", is_tcp ? "tcp" : "udp",
					   v6 ? "6" : "4", cut, fix ? " (lengths fixed)" : "");
				h = tu_new(TU_CAPS, NULL, 0);
				x = s;
				tu_add_next(h, &x);
				tu_add_next(h, &x);
				tu_build(&x, p, sizeof(p));
				if (fix) {
					if (v6)
						tu_put16(p + 4, (uint16_t)(cut - 40));
					else
						tu_put16(p + 2, (uint16_t)cut);
					if (!is_tcp && cut >= ip + 8)
						tu_put16(p + ip + 4, (uint16_t)(cut - ip));
					tu_fix_csums(p, cut);
				}
				tu_add_bytes(h, p, cut);
				x.seq += (uint32_t)(is_tcp && cut > ip + l4 ? cut - ip - l4 : 0);
				x.pay_off += (uint32_t)(cut > ip + l4 ? cut - ip - l4 : 0);
				x.id++;
				tu_add_next(h, &x);
				tu_add_next(h, &x);
				if (cut < ip || (v6 && cut < 40))
					want = "[0 1 3 4] 2"; /* too short: passthrough */
				else if (!fix)
					want = "[0 1] 2 [3 4]"; /* lengths lie: verbatim */
				else if (cut < ip + l4)
					want = "[0 1] 2 [3 4]"; /* L4 header cut */
				else if (cut == ip + l4)
					/* no payload: a pure ACK, or an empty datagram */
					want = is_tcp ? "[0 1 3 4] 2" : "[0 1] 2 [3 4]";
				else
					want = "[0 1 2] [3 4]"; /* a short last segment */
				tu_flush_expect(h, want, NULL);
				tu_free(h);
			}
		}
	}
	tu_context("%s", "");
}

/* Bytes past the IP length are trimmed off; the rest merges as usual. */
static void trailing_bytes_trimmed(void **st)
{
	(void)st;
	for (int c = 0; c < 4; c++) {
		int v6 = c & 1;
		struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
		struct tu_spec s = c < 2 ? tcp(v6) : tu_udp(v6), ack;
		uint8_t p[512];
		size_t n, len;

		tu_context("case %d", c);
		tu_add_next(h, &s);
		n = tu_build(&s, p, sizeof(p));
		memset(p + n, 0xee, 7);
		tu_add_bytes(h, p, n + 7);
		tu_next(&s);
		tu_add_next(h, &s);
		tu_flush_expect(h, "[0 1 2]", NULL);

		/* Alone, and a padded pure ACK (Ethernet pads 40-byte ACKs). */
		n = tu_build(&s, p, sizeof(p));
		memset(p + n, 0, 6);
		tu_add_bytes(h, p, n + 6);
		ack = s;
		ack.len = 0;
		n = tu_build(&ack, p, sizeof(p));
		memset(p + n, 0, 6);
		tu_add_bytes(h, p, n + 6);
		tu_flush_expect(h, "0 1", NULL);
		tu_rec(h, 0, &len, NULL);
		assert_int_equal(len, tu_spec_len(&s));
		tu_rec(h, 1, &len, NULL);
		assert_int_equal(len, tu_spec_len(&ack));
		tu_free(h);
	}
	tu_context("%s", "");
}

static void ip_options(void **st)
{
	(void)st;
	for (int c = 0; c < 2; c++) {
		struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
		struct tu_spec s = c ? tu_udp(0) : tcp(0), o, u = c ? tcp(1) : tu_udp(1);

		tu_add_next(h, &s);
		tu_add_next(h, &u);
		tu_add_next(h, &s);
		o = s;
		o.ipopt_len = 4;
		tu_add_next(h, &o);
		s.seq = o.seq, s.id = o.id, s.pay_off = o.pay_off;
		o = s;
		o.ipopt_len = 8;
		tu_add_next(h, &o);
		tu_add_next(h, &o);
		s.seq = o.seq, s.id = o.id, s.pay_off = o.pay_off;
		tu_add_next(h, &u);
		tu_add_next(h, &s);
		tu_add_next(h, &s);
		/* Options never merge, seal the lane; the other lane is untouched. */
		tu_flush_expect(h, c ? "[1 6] [0 2] 3 4 5 [7 8]" : "[0 2] 3 4 5 [7 8] [1 6]",
				"unsupported=3 flush=2");
		tu_free(h);
	}
}

static void fragments(void **st)
{
	(void)st;
	for (int c = 0; c < 2; c++) {
		struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
		struct tu_spec s = c ? tu_udp(0) : tcp(0), f;
		uint8_t p[512];
		size_t n;

		tu_context("%s", c ? "udp" : "tcp");
		s.df = 0;
		tu_add_next(h, &s); /* 0 */
		tu_add_next(h, &s); /* 1 */
		f = s;
		f.frag = 0x2000;    /* MF: the first fragment */
		tu_add_next(h, &f); /* 2 */
		f.frag = 0x2000 | 40;
		f.id--;
		n = tu_build(&f, p, sizeof(p));
		tu_add_bytes(h, p, n); /* 3: a middle fragment (its bytes are not L4) */
		f.frag = 55;
		n = tu_build(&f, p, sizeof(p));
		tu_add_bytes(h, p, n); /* 4: the last one */
		s.id = f.id;
		tu_add_next(h, &s); /* 5 */
		tu_add_next(h, &s); /* 6 */
		tu_flush_expect(h, "[0 1] 2 3 4 [5 6]", "unsupported=3 flush=1");
		tu_free(h);
	}
	tu_context("%s", "");
}

/* An IPv6 packet with extension headers before TCP/UDP stays in its lane,
 * verbatim; when the chain can't be walked it is passthrough. */
static size_t with_ext(uint8_t *out, const struct tu_spec *s, unsigned count, int cut_last)
{
	uint8_t p[512];
	size_t n = tu_build(s, p, sizeof(p)), ext = 8u * count;

	memcpy(out, p, 40);
	for (unsigned i = 0; i < count; i++) {
		uint8_t *e = out + 40 + 8 * i;
		memset(e, 0, 8);
		e[0] = i + 1 < count ? 60 : p[6]; /* destination options, then L4 */
		e[2] = 1;			  /* PadN of 4 */
		e[3] = 4;
	}
	out[6] = 0; /* hop-by-hop first */
	memcpy(out + 40 + ext, p + 40, n - 40);
	tu_put16(out + 4, (uint16_t)(n - 40 + ext));
	if (cut_last)
		out[40 + 8 * (count - 1) + 1] = 200; /* runs past the packet */
	return n + ext;
}

static void ipv6_ext_headers(void **st)
{
	(void)st;
	for (int c = 0; c < 2; c++) {
		struct tu_h *h = tu_new(TU_CAPS, NULL, 0);
		struct tu_spec s = c ? tu_udp(1) : tcp(1), i6 = tu_icmp6();
		uint8_t p[600];
		size_t n;

		tu_context("%s", c ? "udp" : "tcp");
		tu_add_next(h, &s); /* 0 */
		tu_add_next(h, &s); /* 1 */
		n = with_ext(p, &s, 1, 0);
		tu_add_bytes(h, p, n); /* 2: in the lane, seals it */
		n = with_ext(p, &s, 9, 0);
		tu_add_bytes(h, p, n); /* 3: too many headers: passthrough */
		n = with_ext(p, &s, 2, 1);
		tu_add_bytes(h, p, n); /* 4: past the end: passthrough */
		n = with_ext(p, &i6, 2, 0);
		tu_add_bytes(h, p, n); /* 5: ICMPv6 behind them: passthrough */
		tu_add_next(h, &s);    /* 6 */
		tu_add_next(h, &s);    /* 7 */
		tu_flush_expect(h, "[0 1] 2 [6 7] 3 4 5", "unsupported=1 flush=1");
		tu_free(h);
	}
	tu_context("%s", "");
}

static void lanes_off(void **st)
{
	(void)st;
	static const struct {
		unsigned caps, flags, lanes;
		const char *want, *why;
	} c[] = {
		{TU_CAPS, 0, 7, "[0 3 5] [1 4] 2", "flush=2"},
		{TU_CAPS, TB_COALESCE_NO_TCP, 6, "[1 4] 0 2 3 5", "lane_off=3 flush=1"},
		{TU_CAPS, TB_COALESCE_NO_UDP, 5, "[0 3 5] 1 2 4", "lane_off=2 flush=1"},
		{TU_CAPS, TB_COALESCE_NO_TCP | TB_COALESCE_NO_UDP, 4, "0 1 2 3 4 5", "lane_off=5"},
		{TB_CAP_USO, 0, 6, "[1 4] 0 2 3 5", "lane_off=3 flush=1"},
		{TB_CAP_TSO, 0, 5, "[0 3 5] 1 2 4", "lane_off=2 flush=1"},
		{0, 0, 4, "0 1 2 3 4 5", "lane_off=5"},
	};

	for (size_t k = 0; k < sizeof(c) / sizeof(c[0]); k++) {
		struct tb_coalescer_opts o = {.flags = c[k].flags};
		struct tu_h *h = tu_new(c[k].caps, &o, 0);
		struct tu_spec t = tcp(0), u = tu_udp(1), m = tcp(0), i4 = tu_icmp4();
		uint8_t p[512];
		size_t n;

		tu_context("case %zu", k);
		assert_int_equal(tb_coalescer_lanes(h->co), c[k].lanes);
		m.sport = 5;
		n = tu_build(&m, p, sizeof(p));
		p[32] = 0x30;	    /* TCP doff 3: malformed, but its lane is off */
		tu_add_next(h, &t); /* 0 */
		tu_add_next(h, &u); /* 1 */
		tu_add(h, &i4);	    /* 2 */
		tu_add_next(h, &t); /* 3 */
		tu_add_next(h, &u); /* 4 */
		if (c[k].lanes & 1)
			tu_add_next(h, &t); /* 5 */
		else
			tu_add_bytes(h, p, n); /* 5 */
		tu_flush_expect(h, c[k].want, c[k].why);
		tu_free(h);
	}
	tu_context("%s", "");
}

/* A writer without write_gso gets no superpackets, whatever its caps. */
struct plain_writer {
	struct tb_writer w;
	unsigned n;
};

static int plain_write(struct tb_writer *w, const void *pkt, size_t len)
{
	(void)pkt;
	(void)len;
	((struct plain_writer *)w)->n++;
	return 0;
}

static void no_write_gso(void **st)
{
	(void)st;
	struct plain_writer pw = {.w = {.write = plain_write, .caps = TU_CAPS}};
	struct tb_arena *a = tb_arena_create(0);
	struct tb_coalescer *co = tb_coalescer_create(&pw.w, a, NULL);
	struct tu_spec s = tcp(0);
	uint8_t p[512];
	struct tb_stats stt;

	assert_non_null(co);
	assert_int_equal(tb_coalescer_lanes(co), 1u << TB_LANE_PASS);
	for (int i = 0; i < 5; i++) {
		size_t n = tu_build(&s, p + 0, sizeof(p));
		uint8_t *b = tb_coalescer_reserve(co, n);
		memcpy(b, p, n);
		assert_int_equal(tb_coalescer_commit(co, b, n), 0);
		s.seq += s.len;
	}
	assert_int_equal(tb_coalescer_flush(co), 0);
	assert_int_equal(pw.n, 5);
	tb_coalescer_stats(co, &stt);
	assert_int_equal(stt.why[TB_WHY_LANE_OFF], 5);
	assert_int_equal(stt.superpackets, 0);
	tb_coalescer_destroy(co);
	tb_arena_destroy(a);
}

static void verify_csum(void **st)
{
	(void)st;
	for (int c = 0; c < 6; c++) {
		int v6 = c & 1, is_tcp = c < 4, ipbad = c >= 2 && c < 4;
		struct tb_coalescer_opts o = {.flags = TB_COALESCE_VERIFY_CSUM, .max_pkts = 0};
		struct tu_h *h;
		struct tu_spec s;

		if (ipbad && v6)
			continue; /* IPv6 has no header checksum */
		tu_context("case %d", c);
		s = is_tcp ? tcp(v6) : tu_udp(v6);
		h = tu_new(TU_CAPS, &o, 0);
		tu_add_next(h, &s);
		tu_add_next(h, &s);
		if (ipbad)
			s.bad_ipcsum = 1;
		else
			s.bad_csum = 1;
		tu_add_next(h, &s);
		s.bad_ipcsum = s.bad_csum = 0;
		tu_add_next(h, &s);
		tu_add_next(h, &s);
		tu_flush_expect(h, "[0 1] 2 [3 4]", "bad_csum=1 flush=1");
		tu_free(h);

		/* Without verification the same packets merge. */
		s = is_tcp ? tcp(v6) : tu_udp(v6);
		h = tu_new(TU_CAPS, NULL, 0);
		for (int i = 0; i < 5; i++) {
			s.bad_csum = i == 2 && !ipbad;
			s.bad_ipcsum = i == 2 && ipbad;
			tu_add_next(h, &s);
		}
		if (ipbad) {
			/* The kernel rewrites IPv4 header checksums anyway. */
			tu_flush_expect(h, "[0 1 2 3 4]", NULL);
		} else {
			struct tb_vnet_hdr v;
			size_t len;
			assert_int_equal(tu_flush_flags(h, TU_NO_CHECK), 0);
			assert_int_equal(tu_nrec(h), 1);
			tu_rec(h, 0, &len, &v);
			assert_int_equal(v.gso_size, 100);
			assert_int_equal(len, v.hdr_len + 500);
		}
		tu_expect_why(h, "flush=1");
		tu_free(h);
	}

	/* A checksum-less IPv4 datagram is valid, but still not merged; a bad
	 * pure ACK is not counted as a pure ACK. */
	struct tb_coalescer_opts o = {.flags = TB_COALESCE_VERIFY_CSUM, .max_pkts = 0};
	struct tu_h *h = tu_new(TU_CAPS, &o, 0);
	struct tu_spec u = tu_udp(0), a = tcp(0);
	struct tb_stats stt;

	u.udp_nocsum = 1;
	tu_add_next(h, &u);
	a.len = 0;
	a.bad_csum = 1;
	tu_add(h, &a);
	a.bad_csum = 0;
	tu_add(h, &a);
	tu_flush_expect(h, "1 2 0", "no_csum=1 bad_csum=1");
	tu_batch_stats(h, &stt);
	assert_int_equal(stt.pure_acks, 1);
	tu_free(h);
	tu_context("%s", "");
}

static void bad_arguments(void **st)
{
	(void)st;
	struct tb_arena *a = tb_arena_create(4096);
	struct tb_capture *cap = tb_capture_create(TU_CAPS);
	struct tb_writer *w = tb_capture_writer(cap);
	struct tb_writer nowrite = {.write = NULL, .write_gso = NULL, .caps = TU_CAPS};
	struct tb_coalescer_opts big = {.flags = 0, .max_pkts = (1u << 24) + 1};
	struct tb_coalescer *co;

	errno = 0;
	assert_null(tb_coalescer_create(NULL, a, NULL));
	assert_int_equal(errno, EINVAL);
	assert_null(tb_coalescer_create(w, NULL, NULL));
	assert_null(tb_coalescer_create(&nowrite, a, NULL));
	assert_null(tb_coalescer_create(w, a, &big));
	co = tb_coalescer_create(w, a, NULL);
	assert_non_null(co);
	assert_int_equal(tb_coalescer_commit(co, NULL, 20), -EINVAL);
	assert_int_equal(tb_coalescer_commit(NULL, "x", 1), -EINVAL);
	assert_int_equal(tb_coalescer_flush(co), 0);
	assert_int_equal(tb_capture_count(cap), 0);
	tb_coalescer_destroy(co);
	tb_coalescer_destroy(NULL);
	tb_capture_destroy(cap);
	tb_arena_destroy(a);
}

/* Every flag bit past TB_COALESCE_ORDER is refused, as tb_carrier_open
 * refuses its own: a later release may give one a meaning. */
static void unknown_flags(void **st)
{
	(void)st;
	struct tb_arena *a = tb_arena_create(4096);
	struct tb_capture *cap = tb_capture_create(TU_CAPS);
	struct tb_writer *w = tb_capture_writer(cap);
	struct tb_coalescer_opts o = {.max_pkts = 16};
	struct tb_coalescer *co;

	for (unsigned bit = 4; bit < 32; bit++) {
		o.flags = TB_COALESCE_NO_UDP | (1u << bit);
		errno = 0;
		assert_null(tb_coalescer_create(w, a, &o));
		assert_int_equal(errno, EINVAL);
	}
	o.flags = TB_COALESCE_NO_TCP | TB_COALESCE_NO_UDP | TB_COALESCE_VERIFY_CSUM |
		  TB_COALESCE_ORDER;
	co = tb_coalescer_create(w, a, &o);
	assert_non_null(co);
	assert_int_equal(tb_coalescer_lanes(co), 1u << TB_LANE_PASS);
	tb_coalescer_destroy(co);
	tb_capture_destroy(cap);
	tb_arena_destroy(a);
}

static void names(void **st)
{
	(void)st;
	for (int i = 0; i < TB_WHY_COUNT; i++) {
		const char *n = tb_why_name((enum tb_why)i);
		assert_non_null(n);
		assert_string_not_equal(n, "unknown");
		for (int j = 0; j < i; j++)
			assert_string_not_equal(n, tb_why_name((enum tb_why)j));
	}
	assert_string_equal(tb_why_name(TB_WHY_COUNT), "unknown");
	assert_string_equal(tb_lane_name(TB_LANE_TCP), "tcp");
	assert_string_equal(tb_lane_name(TB_LANE_UDP), "udp");
	assert_string_equal(tb_lane_name(TB_LANE_PASS), "pass");
	assert_string_equal(tb_lane_name(TB_LANE_COUNT), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(passthrough),
		cmocka_unit_test(malformed_seals_lane),
		cmocka_unit_test(truncated_everywhere),
		cmocka_unit_test(trailing_bytes_trimmed),
		cmocka_unit_test(ip_options),
		cmocka_unit_test(fragments),
		cmocka_unit_test(ipv6_ext_headers),
		cmocka_unit_test(lanes_off),
		cmocka_unit_test(no_write_gso),
		cmocka_unit_test(verify_csum),
		cmocka_unit_test(bad_arguments),
		cmocka_unit_test(unknown_flags),
		cmocka_unit_test(names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
