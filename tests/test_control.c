/*
 * test_control.c - the control protocol: encode, decode, and malformed
 * lines answered with an error instead of a crash.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "ctl_format.h"
#include "check_main.h"

static json_t *
parse_line(const char *line)
{
	json_error_t e;
	json_t *j = json_loads(line, 0, &e);

	ck_assert_msg(j != NULL, "not JSON: %s (%s)", line, e.text);
	return j;
}

START_TEST(request_roundtrip)
{
	struct ctl_request in = { .id = 42, .cmd = CTL_REAP }, out;
	char *services[] = { "a", "b-2" }, *line, err[128];

	in.services = services;
	in.nservices = 2;
	line = ctl_request_encode(&in);
	ck_assert_ptr_nonnull(line);
	ck_assert(line[strlen(line) - 1] == '\n');
	ck_assert_int_eq(ctl_request_decode(line, strlen(line) - 1, &out, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(out.id, 42);
	ck_assert_int_eq(out.cmd, CTL_REAP);
	ck_assert_uint_eq(out.nservices, 2);
	ck_assert_str_eq(out.services[1], "b-2");
	ck_assert(!out.idle && !out.all);
	ctl_request_clear(&out);
	free(line);

	memset(&in, 0, sizeof(in));
	in.id = 7;
	in.cmd = CTL_EVENTS;
	in.n = 5;
	in.follow = true;
	strcpy(in.service, "hello");
	line = ctl_request_encode(&in);
	ck_assert_int_eq(ctl_request_decode(line, strlen(line), &out, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(out.cmd, CTL_EVENTS);
	ck_assert_uint_eq(out.n, 5);
	ck_assert(out.follow);
	ck_assert_str_eq(out.service, "hello");
	free(line);
}
END_TEST

START_TEST(every_command)
{
	static const char *const lines[] = {
		"{\"v\":1,\"id\":1,\"cmd\":\"list\"}",
		"{\"v\":1,\"id\":2,\"cmd\":\"status\",\"service\":\"x\"}",
		"{\"v\":1,\"id\":3,\"cmd\":\"boot\",\"service\":\"x\"}",
		"{\"v\":1,\"id\":4,\"cmd\":\"reap\",\"idle\":true}",
		"{\"v\":1,\"id\":5,\"cmd\":\"events\"}",
		"{\"v\":1,\"id\":6,\"cmd\":\"reload\"}",
	};
	static const char *const names[] = { "list", "status", "boot",
	    "reap", "events", "reload" };
	struct ctl_request r;
	char err[128];
	size_t i;

	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		ck_assert_msg(ctl_request_decode(lines[i], strlen(lines[i]),
		    &r, err, sizeof(err)) == 0, "%s: %s", lines[i], err);
		ck_assert_int_eq(r.id, (int64_t)i + 1);
		ck_assert_int_eq(r.cmd, (int)i);
		ck_assert_str_eq(ctl_cmd_name(r.cmd), names[i]);
		ctl_request_clear(&r);
	}
	ck_assert(!ctl_cmd_changes(CTL_LIST));
	ck_assert(!ctl_cmd_changes(CTL_STATUS));
	ck_assert(!ctl_cmd_changes(CTL_EVENTS));
	ck_assert(ctl_cmd_changes(CTL_BOOT));
	ck_assert(ctl_cmd_changes(CTL_REAP));
	ck_assert(ctl_cmd_changes(CTL_RELOAD));
}
END_TEST

/* Malformed requests: an error message, the id kept where readable. */
static const struct {
	const char	*line;
	int64_t		 id;
	const char	*error;
} bad[] = {
	{ "", 0, "malformed JSON" },
	{ "not json", 0, "malformed JSON" },
	{ "{\"v\":1,\"id\":3", 0, "malformed JSON" },
	{ "[1,2,3]", 0, "a request is a JSON object" },
	{ "\"list\"", 0, "malformed JSON" },
	{ "{\"v\":2,\"id\":9,\"cmd\":\"list\"}", 9, "unsupported protocol version" },
	{ "{\"id\":9,\"cmd\":\"list\"}", 9, "unsupported protocol version" },
	{ "{\"v\":1,\"id\":\"x\",\"cmd\":\"list\"}", 0, "\"id\" must be an integer" },
	{ "{\"v\":1,\"id\":4}", 4, "missing \"cmd\"" },
	{ "{\"v\":1,\"id\":4,\"cmd\":7}", 4, "missing \"cmd\"" },
	{ "{\"v\":1,\"id\":4,\"cmd\":\"format-disk\"}", 4, "unknown command \"format-disk\"" },
	{ "{\"v\":1,\"id\":5,\"cmd\":\"status\"}", 5, "missing \"service\"" },
	{ "{\"v\":1,\"id\":5,\"cmd\":\"status\",\"service\":3}", 5, "\"service\" must be a string" },
	{ "{\"v\":1,\"id\":5,\"cmd\":\"status\",\"service\":\"../etc\"}", 5, "invalid service name" },
	{ "{\"v\":1,\"id\":5,\"cmd\":\"boot\",\"service\":\"Hello\"}", 5, "invalid service name" },
	{ "{\"v\":1,\"id\":6,\"cmd\":\"reap\"}", 6, "exactly one" },
	{ "{\"v\":1,\"id\":6,\"cmd\":\"reap\",\"idle\":true,\"all\":true}", 6, "exactly one" },
	{ "{\"v\":1,\"id\":6,\"cmd\":\"reap\",\"services\":\"a\"}", 6, "must be an array" },
	{ "{\"v\":1,\"id\":6,\"cmd\":\"reap\",\"services\":[\"a\",1]}", 6, "invalid service name" },
	{ "{\"v\":1,\"id\":6,\"cmd\":\"reap\",\"all\":\"yes\"}", 6, "must be true or false" },
	{ "{\"v\":1,\"id\":7,\"cmd\":\"events\",\"n\":-1}", 7, "\"n\" must be" },
	{ "{\"v\":1,\"id\":7,\"cmd\":\"events\",\"n\":99999999}", 7, "\"n\" must be" },
	{ "{\"v\":1,\"id\":7,\"cmd\":\"events\",\"follow\":1}", 7, "must be true or false" },
	{ "{\"v\":1,\"v\":1,\"id\":8,\"cmd\":\"list\"}", 0, "malformed JSON" },
	{ "{\"v\":1,\"id\":8,\"cmd\":\"list\"} junk", 0, "malformed JSON" },
	{ "{\"v\":1,\"id\":8,\"cmd\":\"list\",\"extra\":[1]}", 8, NULL },
};

START_TEST(malformed)
{
	struct ctl_request r;
	char err[256], *answer;
	json_t *j;
	size_t len = strlen(bad[_i].line);
	int rc;

	rc = ctl_request_decode(bad[_i].line, len, &r, err, sizeof(err));
	if (bad[_i].error == NULL) {
		ck_assert_int_eq(rc, 0);
		ctl_request_clear(&r);
		return;
	}
	ck_assert_msg(rc == -1, "accepted %s", bad[_i].line);
	ck_assert_int_eq(r.id, bad[_i].id);
	ck_assert_msg(strstr(err, bad[_i].error) != NULL, "%s: got '%s'",
	    bad[_i].line, err);
	ck_assert_ptr_null(r.services);
	/* And the answer the daemon sends is well-formed. */
	answer = ctl_answer_error(r.id, "%s", err);
	j = parse_line(answer);
	ck_assert(json_is_false(json_object_get(j, "ok")));
	ck_assert_int_eq(json_integer_value(json_object_get(j, "id")), r.id);
	json_decref(j);
	free(answer);
}
END_TEST

START_TEST(answers)
{
	char *line, err[128];
	const char *kind;
	json_t *body;
	int64_t id;

	line = ctl_answer_ok(3, json_pack("{s:i}", "services", 2));
	ck_assert_int_eq(ctl_answer_decode(line, &id, &kind, &body, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(id, 3);
	ck_assert_str_eq(kind, "result");
	ck_assert_int_eq(json_integer_value(json_object_get(body, "services")),
	    2);
	json_decref(body);
	free(line);

	line = ctl_answer_error(4, "unknown service \"%s\"", "x");
	ck_assert_int_eq(ctl_answer_decode(line, &id, &kind, &body, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(kind, "error");
	ck_assert_str_eq(json_string_value(body), "unknown service \"x\"");
	json_decref(body);
	free(line);

	line = ctl_push(5, "progress", json_pack("{s:s}", "state", "starting"));
	ck_assert_int_eq(ctl_answer_decode(line, &id, &kind, &body, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(kind, "progress");
	ck_assert_str_eq(json_string_value(json_object_get(body, "state")),
	    "starting");
	json_decref(body);
	free(line);

	ck_assert_int_eq(ctl_answer_decode("{\"v\":1}", &id, &kind, &body,
	    err, sizeof(err)), -1);
	ck_assert_int_eq(ctl_answer_decode("garbage", &id, &kind, &body,
	    err, sizeof(err)), -1);
	ck_assert_int_eq(ctl_answer_decode("{\"v\":3,\"ok\":true}", &id,
	    &kind, &body, err, sizeof(err)), -1);
}
END_TEST

static json_t *
array_item(void *arg, size_t i)
{
	(void)arg;
	if (i == 1)
		return NULL;	/* left out */
	return json_pack("{s:I, s:s, s:n}", "i", (json_int_t)i, "s", "a\"b",
	    "z");
}

static int
append_str(const char *buf, size_t len, void *arg)
{
	char **s = arg;
	size_t have = *s != NULL ? strlen(*s) : 0;
	char *n = realloc(*s, have + len + 1);

	ck_assert_ptr_nonnull(n);
	memcpy(n + have, buf, len);
	n[have + len] = '\0';
	*s = n;
	return 0;
}

/* An answer written an item at a time is the line ctl_answer_ok makes. */
START_TEST(answer_array)
{
	size_t n, i;

	for (n = 0; n <= 4; n++) {
		json_t *a = json_array();
		char *want, *got = NULL;

		for (i = 0; i < n; i++)
			if (i != 1)
				json_array_append_new(a, array_item(NULL, i));
		want = ctl_answer_ok(9, json_pack("{s:o}", "services", a));
		ck_assert_int_eq(ctl_answer_ok_array(9, "services", n,
		    array_item, NULL, append_str, &got), 0);
		ck_assert_str_eq(got, want);
		free(want);
		free(got);
	}
}
END_TEST

START_TEST(durations)
{
	static const struct { int64_t ms; const char *s; } d[] = {
		{ -1, "-" }, { 0, "0ms" }, { 41, "41ms" }, { 999, "999ms" },
		{ 1000, "1.0s" }, { 3250, "3.2s" }, { 12000, "12s" },
		{ 240000, "4m" }, { 3600000, "1h" }, { 4320000, "1h12m" },
		{ 259200000, "3d" },
	};
	char buf[32];
	size_t i;

	for (i = 0; i < sizeof(d) / sizeof(d[0]); i++)
		ck_assert_str_eq(fmt_duration(d[i].ms, buf, sizeof(buf)),
		    d[i].s);
}
END_TEST

START_TEST(sizes)
{
	static const struct { int64_t b; const char *s; } d[] = {
		{ -1, "-" }, { 0, "0" }, { 512, "512" }, { 1536, "1.5K" },
		{ 32LL << 20, "32M" }, { (8LL << 30) - (200LL << 20), "7.8G" },
		{ 2LL << 40, "2.0T" },
	};
	char buf[32];
	size_t i;

	for (i = 0; i < sizeof(d) / sizeof(d[0]); i++)
		ck_assert_str_eq(fmt_bytes(d[i].b, buf, sizeof(buf)), d[i].s);
}
END_TEST

START_TEST(table)
{
	const char *cells[] = { "A", "LONG-HEADER", "C",
	    "value-1", "x", "a-very-long-domain-name-indeed" };
	char out[512];
	FILE *f = fmemopen(out, sizeof(out), "w");

	fmt_table(f, cells, 2, 3, 80, 2);
	fclose(f);
	ck_assert_str_eq(out, "A        LONG-HEADER  C\n"
	    "value-1  x            a-very-long-domain-name-indeed\n");
	f = fmemopen(out, sizeof(out), "w");
	fmt_table(f, cells, 2, 3, 40, 2);
	fclose(f);
	ck_assert_str_eq(out, "A        LONG-HEADER  C\n"
	    "value-1  x            a-very-long-domai~\n");
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("control");
	TCase *tc = tcase_create("proto");

	tcase_add_test(tc, request_roundtrip);
	tcase_add_test(tc, every_command);
	tcase_add_loop_test(tc, malformed, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, answers);
	tcase_add_test(tc, answer_array);
	suite_add_tcase(s, tc);
	tc = tcase_create("format");
	tcase_add_test(tc, durations);
	tcase_add_test(tc, sizes);
	tcase_add_test(tc, table);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
