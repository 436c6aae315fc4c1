/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "host.h"
#include "state.h"

#define STATE_MAX_SIZE (256 * 1024)

static int ensure_dir(void)
{
	char p[PATH_MAX], run[PATH_MAX];
	int r;

	r = host_path(run, sizeof(run), "/run");
	if (r < 0)
		return r;
	r = host_path(p, sizeof(p), STATE_DIR);
	if (r < 0)
		return r;
	if (mkdir(p, 0700) < 0 && errno != EEXIST)
		return negative_errno();
	return 0;
}

int state_lock(double timeout, int *ret_fd)
{
	char p[PATH_MAX];
	_cleanup_close_ int fd = -1;
	double deadline = now_seconds() + timeout;
	int r;

	r = ensure_dir();
	if (r < 0)
		return r;
	r = host_path(p, sizeof(p), STATE_DIR "/lock");
	if (r < 0)
		return r;
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return negative_errno();
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR)
			return negative_errno();
		if (now_seconds() >= deadline)
			return -ETIMEDOUT;
		sleep_seconds(0.01);
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static void escape(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p <= 0x20 || *p >= 0x7f || *p == '%')
			fprintf(f, "%%%02X", *p);
		else
			fputc(*p, f);
	}
	if (!*s)
		fputs("%00", f); /* an empty field still takes its place */
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* In place; "%00" alone is the empty string. */
static int unescape(char *s)
{
	char *w = s;

	for (char *p = s; *p; p++) {
		if (*p == '%') {
			int h = hexval((unsigned char)p[1]), l = h < 0 ? -1 : hexval((unsigned char)p[2]);
			if (h < 0 || l < 0)
				return -EINVAL;
			if (h == 0 && l == 0) {
				p += 2;
				continue;
			}
			*w++ = (char)(h * 16 + l);
			p += 2;
		} else
			*w++ = *p;
	}
	*w = '\0';
	return 0;
}

/*
 * File name for a VM: its UUID, or its name made safe: "name-" + the name with every byte but
 * [A-Za-z0-9-] written as _XX ('_' too, so the escape is unambiguous); a name too long for
 * that is cut and followed by a hash of the whole name.
 */
static void file_name(const char *vm, const char *uuid, char *out, size_t size)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	size_t o;
	bool cut = false;

	if (uuid && uuid[0]) {
		snprintf(out, size, "%s.state", uuid);
		return;
	}
	for (const unsigned char *p = (const unsigned char *)vm; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	o = (size_t)snprintf(out, size, "name-");
	for (const unsigned char *p = (const unsigned char *)vm; *p; p++) {
		if (o + 3 + 1 + 16 + 7 >= size) {
			cut = true;
			break;
		}
		if (isalnum(*p) || *p == '-')
			out[o++] = (char)*p;
		else
			o += (size_t)snprintf(out + o, size - o, "_%02x", *p);
	}
	if (cut)
		o += (size_t)snprintf(out + o, size - o, "~%016llx", (unsigned long long)h);
	snprintf(out + o, size - o, ".state");
}

int state_init(struct state *s, const char *vm, const char *uuid, bool persist)
{
	memset(s, 0, sizeof(*s));
	if (strlen(vm) >= sizeof(s->vm))
		return -ENAMETOOLONG;
	strcpy(s->vm, vm);
	if (uuid)
		snprintf(s->uuid, sizeof(s->uuid), "%s", uuid);
	s->persist = persist;
	file_name(vm, uuid, s->file, sizeof(s->file));
	return 0;
}

static void record_free(struct record *r)
{
	for (size_t i = 0; i < r->n_fields; i++)
		free(r->fields[i]);
	r->n_fields = 0;
}

void state_done(struct state *s)
{
	for (size_t i = 0; i < s->n_records; i++)
		record_free(&s->records[i]);
	free(s->records);
	s->records = NULL;
	s->n_records = 0;
}

int state_save(struct state *s)
{
	char p[PATH_MAX], tmp[PATH_MAX];
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int fd, r;

	if (!s->persist)
		return 0;
	r = ensure_dir();
	if (r < 0)
		return r;
	f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	fputs("vfiohook-state 1\nvm ", f);
	escape(f, s->vm);
	fputs("\nuuid ", f);
	escape(f, s->uuid);
	fputc('\n', f);
	for (size_t i = 0; i < s->n_records; i++) {
		for (size_t j = 0; j < s->records[i].n_fields; j++) {
			if (j)
				fputc(' ', f);
			escape(f, s->records[i].fields[j]);
		}
		fputc('\n', f);
	}
	if (s->complete)
		fputs("complete\n", f);
	if (fclose(f) != 0)
		return -ENOMEM;

	if (host_path(p, sizeof(p), STATE_DIR "/%s", s->file) < 0 ||
	    host_path(tmp, sizeof(tmp), STATE_DIR "/.%s.tmp", s->file) < 0)
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return negative_errno();
	if (write(fd, buf, len) != (ssize_t)len || fsync(fd) < 0) {
		r = negative_errno();
		close(fd);
		unlink(tmp);
		return r;
	}
	close(fd);
	if (rename(tmp, p) < 0) {
		r = negative_errno();
		unlink(tmp);
		return r;
	}
	return 0;
}

int state_remove(struct state *s)
{
	char p[PATH_MAX];

	if (!s->persist)
		return 0;
	if (host_path(p, sizeof(p), STATE_DIR "/%s", s->file) < 0)
		return -ENAMETOOLONG;
	if (unlink(p) < 0 && errno != ENOENT)
		return negative_errno();
	return 0;
}

static int add_fields(struct state *s, char **fields, size_t n)
{
	struct record *nr = realloc(s->records, (s->n_records + 1) * sizeof(*nr));

	if (!nr)
		return -ENOMEM;
	s->records = nr;
	nr = &s->records[s->n_records++];
	memset(nr, 0, sizeof(*nr));
	for (size_t i = 0; i < n; i++)
		nr->fields[nr->n_fields++] = fields[i];
	return 0;
}

int state_add(struct state *s, const char *stage, ...)
{
	char *fields[STATE_MAX_FIELDS];
	size_t n = 0;
	const char *a;
	va_list ap;
	int r;

	va_start(ap, stage);
	for (a = stage; a && n < STATE_MAX_FIELDS; a = va_arg(ap, const char *))
		if (!(fields[n++] = strdup(a)))
			break;
	va_end(ap);
	if (n == 0 || !fields[n - 1]) {
		for (size_t i = 0; i + 1 < n; i++)
			free(fields[i]);
		return -ENOMEM;
	}
	r = add_fields(s, fields, n);
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			free(fields[i]);
		return r;
	}
	return state_save(s);
}

int state_drop_last(struct state *s)
{
	if (s->n_records == 0)
		return 0;
	record_free(&s->records[--s->n_records]);
	return state_save(s);
}

static int parse(struct state *s, char *text)
{
	char *save = NULL, *line;
	unsigned n = 0;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save), n++) {
		char *fields[STATE_MAX_FIELDS], *fs = NULL, *f;
		size_t nf = 0;

		if (n == 0) {
			if (!streq(line, "vfiohook-state 1"))
				return -EINVAL;
			continue;
		}
		for (f = strtok_r(line, " ", &fs); f; f = strtok_r(NULL, " ", &fs)) {
			if (nf == STATE_MAX_FIELDS || unescape(f) < 0)
				return -EINVAL;
			fields[nf++] = f;
		}
		if (nf == 0)
			continue;
		if (streq(fields[0], "vm") && nf == 2)
			snprintf(s->vm, sizeof(s->vm), "%s", fields[1]);
		else if (streq(fields[0], "uuid") && nf == 2)
			snprintf(s->uuid, sizeof(s->uuid), "%s", fields[1]);
		else if (streq(fields[0], "complete"))
			s->complete = true;
		else {
			char *copies[STATE_MAX_FIELDS];
			for (size_t i = 0; i < nf; i++)
				if (!(copies[i] = strdup(fields[i]))) {
					while (i > 0)
						free(copies[--i]);
					return -ENOMEM;
				}
			if (add_fields(s, copies, nf) < 0) {
				for (size_t i = 0; i < nf; i++)
					free(copies[i]);
				return -ENOMEM;
			}
		}
	}
	return n > 0 ? 0 : -EINVAL;
}

static int load(const char *file, struct state *ret)
{
	_cleanup_free_ char *text = NULL;
	int r;

	memset(ret, 0, sizeof(*ret));
	r = host_read_all(&text, STATE_MAX_SIZE, STATE_DIR "/%s", file);
	if (r < 0)
		return r;
	snprintf(ret->file, sizeof(ret->file), "%s", file);
	ret->persist = true;
	r = parse(ret, text);
	if (r < 0)
		state_done(ret);
	return r;
}

static bool is_state_file(const char *n)
{
	size_t l = strlen(n);
	return n[0] != '.' && l > 6 && streq(n + l - 6, ".state") && l < 128;
}

int state_find(const char *vm, const char *uuid, struct state *ret)
{
	DIR *d = host_opendir(STATE_DIR);
	struct dirent *de;
	int r = -ENOENT;

	if (!d)
		return -ENOENT;
	while ((de = readdir(d))) {
		struct state s;
		if (!is_state_file(de->d_name) || load(de->d_name, &s) < 0)
			continue;
		if (streq(s.vm, vm) && (!uuid || !uuid[0] || !s.uuid[0] || streq(s.uuid, uuid))) {
			*ret = s;
			r = 0;
			break;
		}
		state_done(&s);
	}
	closedir(d);
	return r;
}

int state_foreach_other(const struct state *self,
			int (*fn)(const struct state *other, const struct record *r, void *data),
			void *data)
{
	DIR *d = host_opendir(STATE_DIR);
	struct dirent *de;
	int r = 0;

	if (!d)
		return 0;
	while (r == 0 && (de = readdir(d))) {
		struct state s;
		if (!is_state_file(de->d_name) || streq(de->d_name, self->file) ||
		    load(de->d_name, &s) < 0)
			continue;
		for (size_t i = 0; r == 0 && i < s.n_records; i++)
			r = fn(&s, &s.records[i], data);
		state_done(&s);
	}
	closedir(d);
	return r;
}

int state_hand_over(const struct state *self, const struct record *rec)
{
	DIR *d = host_opendir(STATE_DIR);
	struct dirent *de;
	int r = 0;

	if (!d || rec->n_fields < 2) {
		if (d)
			closedir(d);
		return 0;
	}
	while (r == 0 && (de = readdir(d))) {
		struct state s;
		if (!is_state_file(de->d_name) || streq(de->d_name, self->file) || load(de->d_name, &s) < 0)
			continue;
		for (size_t i = 0; r == 0 && i < s.n_records; i++) {
			struct record *o = &s.records[i];
			if (o->n_fields < 2 || !streq(o->fields[0], rec->fields[0]) ||
			    !streq(o->fields[1], rec->fields[1]))
				continue;
			r = 1;
			if (rec->n_fields > 2 && o->n_fields == 2) {
				struct record copy = { .n_fields = 0 };
				for (size_t f = 0; f < rec->n_fields; f++)
					if ((copy.fields[copy.n_fields] = strdup(rec->fields[f])))
						copy.n_fields++;
				if (copy.n_fields != rec->n_fields) {
					record_free(&copy);
					r = -ENOMEM;
					break;
				}
				record_free(o);
				*o = copy;
				if (state_save(&s) < 0)
					r = -EIO;
			}
		}
		state_done(&s);
	}
	closedir(d);
	return r;
}
