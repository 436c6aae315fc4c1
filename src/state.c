/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "config.h"
#include "cpuset.h"
#include "host.h"
#include "state.h"

#define STATE_MAX_SIZE (256 * 1024)

/* Root's, or under a test root the caller's: nobody else may have written it. */
static bool owner_ok(uid_t uid)
{
	return uid == 0 || (!host_is_real() && uid == geteuid());
}

/*
 * The state directory must be what vfiohook made: a directory (not a link to one) of root's,
 * mode 0700. Anything else may hold records planted by someone else: -EPERM.
 */
static int check_dir(const char *p)
{
	struct stat st;

	if (lstat(p, &st) < 0)
		return negative_errno();
	if (!S_ISDIR(st.st_mode) || !owner_ok(st.st_uid) || (st.st_mode & 077))
		return -EPERM;
	return 0;
}

static int ensure_dir(void)
{
	char p[PATH_MAX];
	int r;

	r = host_path(p, sizeof(p), STATE_DIR);
	if (r < 0)
		return r;
	if (mkdir(p, 0700) < 0 && errno != EEXIST)
		return negative_errno();
	return check_dir(p);
}

/* Opens the state directory for reading; -ENOENT when there is none, -EPERM when unsafe. */
static DIR *open_dir(int *ret)
{
	char p[PATH_MAX];
	DIR *d;

	*ret = host_path(p, sizeof(p), STATE_DIR);
	if (*ret >= 0)
		*ret = check_dir(p);
	if (*ret < 0)
		return NULL;
	d = opendir(p);
	if (!d)
		*ret = negative_errno();
	return d;
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

/* --- records ------------------------------------------------------------------------------ */

enum field_type {
	F_BDF,  /* a PCI address in canonical form */
	F_NAME, /* a module, driver, governor, policy or platform device name */
	F_UNIT, /* a systemd unit name */
	F_TEXT, /* printable text (a console's name) */
	F_POOL, /* a hugepage pool directory in sysfs */
	F_CPUS, /* a CPU list */
	F_DIGITS, /* a decimal number kept as text (a uid) */
	F_U64,
};

struct field {
	const char *key;
	enum field_type type;
	size_t offset, size;
	bool optional;       /* strings: empty is absent */
	size_t known_offset; /* numbers that may be absent: the bool that says they are there */
};

#define FIELD(k, t, member, opt)                                                                    \
	{ k, t, offsetof(struct record, member), sizeof(((struct record *)0)->member), opt, 0 }
#define FIELD_IF(k, t, member, known)                                                               \
	{ k, t, offsetof(struct record, member), sizeof(((struct record *)0)->member), true,             \
	  offsetof(struct record, known) }

static const struct field hugepages_fields[] = {
	FIELD("pool", F_POOL, hugepages.pool, false),
	FIELD("before", F_U64, hugepages.before, false),
	FIELD("target", F_U64, hugepages.target, false),
	FIELD_IF("added", F_U64, hugepages.added, hugepages.added_known),
};
static const struct field display_fields[] = { FIELD("unit", F_UNIT, display.unit, false) };
static const struct field vtcon_fields[] = { FIELD("name", F_TEXT, vtcon.name, false) };
static const struct field user_unit_fields[] = {
	FIELD("uid", F_DIGITS, user_unit.uid, false),
	FIELD("unit", F_UNIT, user_unit.unit, false),
};
static const struct field framebuffer_fields[] = {
	FIELD("device", F_NAME, framebuffer.device, false),
	FIELD("driver", F_NAME, framebuffer.driver, false),
};
static const struct field kmod_fields[] = { FIELD("module", F_NAME, kmod.module, false) };
static const struct field vfio_fields[] = { FIELD("module", F_NAME, vfio.module, false) };
static const struct field pci_fields[] = {
	FIELD("bdf", F_BDF, pci.bdf, false),
	FIELD("driver", F_NAME, pci.driver, true),
	FIELD("override", F_NAME, pci.override, true),
};
static const struct field governor_fields[] = {
	FIELD("policy", F_NAME, governor.policy, false),
	FIELD("governor", F_NAME, governor.governor, false),
	FIELD("epp", F_NAME, governor.epp, true),
};
static const struct field isolation_fields[] = {
	FIELD("unit", F_UNIT, isolation.unit, false),
	FIELD("cpus", F_CPUS, isolation.cpus, true),
};

static const struct record_type {
	const char *name;
	const struct field *fields;
	size_t n_fields;
	bool shared; /* the first field names a host-wide resource */
} types[_REC_MAX] = {
#define TYPE(kind, n, f, sh) [kind] = { n, f, ELEMENTSOF(f), sh }
	TYPE(REC_HUGEPAGES, "hugepages", hugepages_fields, false),
	TYPE(REC_DISPLAY, "display", display_fields, true),
	TYPE(REC_USER_UNIT, "user-unit", user_unit_fields, false),
	TYPE(REC_VTCON, "vtcon", vtcon_fields, false),
	TYPE(REC_FRAMEBUFFER, "framebuffer", framebuffer_fields, false),
	TYPE(REC_KMOD, "kmod", kmod_fields, false),
	TYPE(REC_VFIO, "vfio", vfio_fields, true),
	TYPE(REC_PCI, "pci", pci_fields, false),
	TYPE(REC_GOVERNOR, "governor", governor_fields, true),
	TYPE(REC_ISOLATION, "isolation", isolation_fields, true),
#undef TYPE
};

const char *record_kind_name(enum record_kind kind)
{
	return kind >= 0 && kind < _REC_MAX ? types[kind].name : "?";
}

bool record_is_shared(enum record_kind kind)
{
	return kind >= 0 && kind < _REC_MAX && types[kind].shared;
}

const char *record_key(const struct record *r)
{
	return (const char *)r + types[r->kind].fields[0].offset;
}

int record_set_key(struct record *r, const char *key)
{
	const struct field *fd = &types[r->kind].fields[0];

	if (strlen(key) >= fd->size)
		return -ENAMETOOLONG;
	strcpy((char *)r + fd->offset, key);
	return 0;
}

static bool name_ok(const char *s)
{
	if (!*s)
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_-.:+@", *p))
			return false;
	return true;
}

/* s starts with 1 to max digits (no sign, no space) followed by tail; returns what follows */
static const char *digits_then(const char *s, size_t max, const char *tail)
{
	const char *p = s;

	while (*p >= '0' && *p <= '9')
		p++;
	if (p == s || (size_t)(p - s) > max || strncmp(p, tail, strlen(tail)) != 0)
		return NULL;
	return p + strlen(tail);
}

/* Exactly /sys/kernel/mm/hugepages/hugepages-NkB or /sys/devices/system/node/nodeN/hugepages/... */
static bool pool_ok(const char *s)
{
	static const char global[] = "/sys/kernel/mm/hugepages/hugepages-", node[] = "/sys/devices/system/node/node";
	const char *p;

	if (strncmp(s, global, STRLEN(global)) == 0)
		p = s + STRLEN(global);
	else if (strncmp(s, node, STRLEN(node)) == 0 &&
		 (p = digits_then(s + STRLEN(node), 5, "/hugepages/hugepages-")))
		;
	else
		return false;
	p = digits_then(p, 12, "kB");
	return p && *p == '\0';
}

/* A CPU list of the kernel's form: numbers and ranges, comma-separated */
static bool cpus_ok(const char *s)
{
	struct cpuset c;

	if (!*s || strspn(s, "0123456789,-") != strlen(s))
		return false;
	return cpuset_parse(s, &c) == 0;
}

static bool value_ok(enum field_type t, const char *v)
{
	struct pci_addr a;
	char canon[PCI_ADDR_STRLEN];

	switch (t) {
	case F_BDF:
		if (pci_addr_parse(v, &a) < 0)
			return false;
		pci_addr_format(&a, canon);
		return streq(canon, v);
	case F_NAME:
		return name_ok(v);
	case F_UNIT:
		return unit_name_is_valid(v) && !streq(v, "auto");
	case F_TEXT:
		for (const unsigned char *p = (const unsigned char *)v; *p; p++)
			if (*p < 0x20 || *p >= 0x7f)
				return false;
		return *v != '\0';
	case F_POOL:
		return pool_ok(v);
	case F_CPUS:
		return cpus_ok(v);
	case F_DIGITS:
		return *v && strspn(v, "0123456789") == strlen(v) && strlen(v) < 11;
	case F_U64:
		return false; /* parsed separately */
	}
	return false;
}

int record_format(const struct record *r, char *buf, size_t size)
{
	const struct record_type *t = &types[r->kind];
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return -ENOMEM;
	fputs(t->name, f);
	for (size_t i = 0; i < t->n_fields; i++) {
		const struct field *fd = &t->fields[i];
		const char *p = (const char *)r + fd->offset;

		if (r->held && i > 0)
			break; /* a held record names its resource, nothing more */
		if (fd->type == F_U64) {
			if (!fd->known_offset || *(const bool *)((const char *)r + fd->known_offset))
				fprintf(f, " %s=%llu", fd->key, (unsigned long long)*(const uint64_t *)p);
			continue;
		}
		if (fd->optional && !*p)
			continue;
		if (strnlen(p, fd->size) >= fd->size || !value_ok(fd->type, p)) {
			fclose(f);
			return -EINVAL; /* never written: it could not be read back */
		}
		fprintf(f, " %s=", fd->key);
		escape(f, p);
	}
	if (r->held)
		fputs(" held", f);
	if (fclose(f) != 0)
		return -ENOMEM;
	if (len >= size)
		return -ENAMETOOLONG;
	memcpy(buf, text, len + 1);
	return 0;
}

#define BAD(...) (snprintf(err, errlen, __VA_ARGS__), -EBADMSG)

int record_parse(char *line, struct record *ret, char *err, size_t errlen)
{
	const struct record_type *t = NULL;
	bool seen[8] = { false };
	char *save = NULL, *tok;
	struct record r = { .kind = _REC_INVALID };

	tok = strtok_r(line, " ", &save);
	for (int k = 0; tok && k < _REC_MAX; k++)
		if (streq(tok, types[k].name)) {
			r.kind = (enum record_kind)k;
			t = &types[k];
		}
	if (!t)
		return BAD("unknown record \"%.40s\"", tok ? tok : "");
	while ((tok = strtok_r(NULL, " ", &save))) {
		char *eq = strchr(tok, '=');
		const struct field *fd = NULL;
		size_t i;

		if (streq(tok, "held") && t->shared && !r.held) {
			r.held = true;
			continue;
		}
		if (!eq)
			return BAD("%s: unknown word \"%.40s\"", t->name, tok);
		*eq = '\0';
		for (i = 0; i < t->n_fields; i++)
			if (streq(t->fields[i].key, tok)) {
				fd = &t->fields[i];
				break;
			}
		if (!fd || seen[i])
			return BAD("%s: %s field \"%.40s\"", t->name, fd ? "repeated" : "unknown", tok);
		seen[i] = true;
		if (unescape(eq + 1) < 0)
			return BAD("%s: bad escape in %s", t->name, fd->key);
		if (fd->type == F_U64) {
			const char *end = digits_then(eq + 1, 20, "");
			uint64_t v;
			errno = 0;
			v = strtoull(eq + 1, NULL, 10);
			if (!end || *end || errno)
				return BAD("%s: %s is not a number", t->name, fd->key);
			*(uint64_t *)((char *)&r + fd->offset) = v;
			if (fd->known_offset)
				*(bool *)((char *)&r + fd->known_offset) = true;
			continue;
		}
		if (strlen(eq + 1) >= fd->size || !value_ok(fd->type, eq + 1))
			return BAD("%s: invalid %s \"%.60s\"", t->name, fd->key, eq + 1);
		strcpy((char *)&r + fd->offset, eq + 1);
	}
	for (size_t i = 0; i < t->n_fields; i++)
		if (!seen[i] && !t->fields[i].optional && !(r.held && i > 0))
			return BAD("%s: %s is missing", t->name, t->fields[i].key);
	*ret = r;
	return 0;
}

/* --- state files -------------------------------------------------------------------------- */

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

void state_done(struct state *s)
{
	free(s->records);
	s->records = NULL;
	s->n_records = 0;
	free(s->saved);
	s->saved = NULL;
}

int state_save(struct state *s)
{
	char p[PATH_MAX], tmp[PATH_MAX], line[1024];
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
	fputs("vfiohook-state 2\nvm ", f);
	escape(f, s->vm);
	fputs("\nuuid ", f);
	escape(f, s->uuid);
	fputc('\n', f);
	for (size_t i = 0; i < s->n_records; i++) {
		if (record_format(&s->records[i], line, sizeof(line)) < 0) {
			fclose(f);
			return -ENAMETOOLONG;
		}
		fprintf(f, "%s\n", line);
	}
	if (s->complete)
		fputs("complete\n", f);
	if (fclose(f) != 0)
		return -ENOMEM;
	if (s->saved && streq(s->saved, buf))
		return 0; /* already there */

	if (host_path(p, sizeof(p), STATE_DIR "/%s", s->file) < 0 ||
	    host_path(tmp, sizeof(tmp), STATE_DIR "/.%s.tmp", s->file) < 0)
		return -ENAMETOOLONG;
	/*
	 * Written whole, then renamed over the old one: a hook killed at any point leaves the old
	 * state or the new one, and what write() returned is there for the next run. No fsync():
	 * the state describes this boot only (it lives on the /run tmpfs), and a crash of the
	 * machine takes everything it describes away with it.
	 */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return negative_errno();
	if (write(fd, buf, len) != (ssize_t)len) {
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
	free(s->saved);
	s->saved = TAKE_PTR(buf);
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
	free(s->saved);
	s->saved = NULL;
	return 0;
}

int state_add(struct state *s, const struct record *rec)
{
	struct record *nr = realloc(s->records, (s->n_records + 1) * sizeof(*nr));
	int r;

	if (!nr)
		return -ENOMEM;
	s->records = nr;
	s->records[s->n_records++] = *rec;
	r = state_save(s);
	if (r < 0)
		s->n_records--; /* not on disk: the change must not be made */
	return r;
}

int state_drop(struct state *s, size_t i)
{
	if (i >= s->n_records)
		return -EINVAL;
	memmove(&s->records[i], &s->records[i + 1], (s->n_records - i - 1) * sizeof(s->records[0]));
	s->n_records--;
	return state_save(s);
}

static int parse(struct state *s, char *text)
{
	char *line;
	unsigned n = 0;

	for (line = strsep(&text, "\n"); line; line = strsep(&text, "\n"), n++) {
		struct record rec;
		char err[160];
		int r;

		if (!text && !*line)
			break; /* after the last newline */
		if (!*line)
			goto bad_header; /* nothing is skipped */

		if (n == 0) {
			if (!streq(line, "vfiohook-state 2")) {
				snprintf(s->error, sizeof(s->error), "line 1: not a vfiohook state file of version 2");
				return -EBADMSG;
			}
			continue;
		}
		if (strncmp(line, "vm ", 3) == 0 && n == 1) {
			if (unescape(line + 3) < 0 || strlen(line + 3) >= sizeof(s->vm) || !line[3])
				goto bad_header;
			strcpy(s->vm, line + 3);
		} else if (strncmp(line, "uuid ", 5) == 0 && n == 2) {
			if (unescape(line + 5) < 0 || (line[5] && uuid_normalize(line + 5, s->uuid) < 0))
				goto bad_header;
		} else if (streq(line, "complete") && n >= 3 && !s->complete) {
			s->complete = true;
		} else if (n < 3 || s->complete) {
			goto bad_header;
		} else {
			struct record *nr;
			r = record_parse(line, &rec, err, sizeof(err));
			if (r < 0) {
				snprintf(s->error, sizeof(s->error), "line %u: %s", n + 1, err);
				return r;
			}
			nr = realloc(s->records, (s->n_records + 1) * sizeof(*nr));
			if (!nr)
				return -ENOMEM;
			s->records = nr;
			s->records[s->n_records++] = rec;
		}
		continue;
	bad_header:
		snprintf(s->error, sizeof(s->error), "line %u: unexpected \"%.60s\"", n + 1, line);
		return -EBADMSG;
	}
	if (n < 3 || !s->vm[0]) {
		snprintf(s->error, sizeof(s->error), "the file is truncated");
		return -EBADMSG;
	}
	return 0;
}

/* Loads a state file. -ENOENT when it does not exist; -EBADMSG (ret->error set) otherwise. */
static int load(const char *file, struct state *ret)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_close_ int fd = -1;
	char p[PATH_MAX];
	struct stat st;
	ssize_t n;
	int r;

	memset(ret, 0, sizeof(*ret));
	snprintf(ret->file, sizeof(ret->file), "%s", file);
	ret->persist = true;
	r = host_path(p, sizeof(p), STATE_DIR "/%s", file);
	if (r < 0)
		return r;
	/* a link, a FIFO or a file someone else wrote is not a record of ours */
	fd = open(p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 && errno == ENOENT)
		return -ENOENT;
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(ret->error, sizeof(ret->error), "%s", errno == ELOOP ? "a symbolic link" : strerror(errno));
		return -EBADMSG;
	}
	if (!S_ISREG(st.st_mode) || !owner_ok(st.st_uid) || (st.st_mode & 077)) {
		snprintf(ret->error, sizeof(ret->error), "not a regular file of root's with mode 0600 (mode %04o, owner %u)",
			 (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid);
		return -EBADMSG;
	}
	text = malloc(STATE_MAX_SIZE + 2);
	if (!text)
		return -ENOMEM;
	n = read(fd, text, STATE_MAX_SIZE + 1);
	if (n < 0 || n > STATE_MAX_SIZE) {
		snprintf(ret->error, sizeof(ret->error), "%s", n < 0 ? strerror(errno) : "larger than 256 KiB");
		return -EBADMSG;
	}
	text[n] = '\0';
	if (memchr(text, '\0', (size_t)n)) {
		snprintf(ret->error, sizeof(ret->error), "the file holds a NUL byte");
		return -EBADMSG;
	}
	r = parse(ret, text);
	if (r < 0)
		state_done(ret);
	return r == -ENOMEM ? r : r < 0 ? -EBADMSG : 0;
}

static bool is_state_file(const char *n)
{
	size_t l = strlen(n);
	return n[0] != '.' && l > 6 && streq(n + l - 6, ".state") && l < 128;
}

static bool matches(const struct state *s, const char *vm, const char *uuid)
{
	return streq(s->vm, vm) && (!uuid || !uuid[0] || !s->uuid[0] || streq(s->uuid, uuid));
}

int state_find(const char *vm, const char *uuid, struct state *ret)
{
	char names[2][128];
	_cleanup_(closedirp) DIR *d = NULL;
	struct dirent *de;
	int r;

	memset(ret, 0, sizeof(*ret));
	d = open_dir(&r);
	if (!d) {
		if (r == -EPERM)
			snprintf(ret->error, sizeof(ret->error), "%s is not a directory of root's with mode 0700", STATE_DIR);
		return r;
	}
	/* the files this VM's state would be in: a broken one of them is this VM's */
	file_name(vm, uuid, names[0], sizeof(names[0]));
	file_name(vm, NULL, names[1], sizeof(names[1]));
	for (size_t i = 0; i < 2; i++) {
		r = load(names[i], ret);
		if (r == -ENOENT)
			continue;
		if (r < 0 || matches(ret, vm, uuid))
			return r;
		state_done(ret);
	}
	/* by name, when the UUID is not known here (a state written with it) */
	while ((de = readdir(d))) {
		struct state s;
		int k;
		if (!is_state_file(de->d_name))
			continue;
		k = load(de->d_name, &s);
		if (k == -EBADMSG && matches(&s, vm, uuid)) {
			/* unreadable, but it says whose it is */
			*ret = s;
			return k;
		}
		if (k < 0)
			continue;
		if (matches(&s, vm, uuid)) {
			*ret = s;
			return 0;
		}
		state_done(&s);
	}
	return -ENOENT;
}

void state_free_all(struct state *states, size_t n)
{
	for (size_t i = 0; i < n; i++)
		state_done(&states[i]);
	free(states);
}

int state_load_others(const char *self_file, struct state **ret, size_t *ret_n)
{
	struct state *all = NULL;
	size_t n = 0;
	struct dirent *de;
	int e;
	DIR *d = open_dir(&e);

	*ret = NULL;
	*ret_n = 0;
	if (!d)
		return e == -ENOENT ? 0 : e;
	while ((de = readdir(d))) {
		struct state *na;
		int r;

		if (!is_state_file(de->d_name) || (self_file && streq(de->d_name, self_file)))
			continue;
		na = realloc(all, (n + 1) * sizeof(*all));
		if (!na) {
			closedir(d);
			state_free_all(all, n);
			return -ENOMEM;
		}
		all = na;
		r = load(de->d_name, &all[n]);
		if (r == -ENOENT)
			continue; /* removed meanwhile */
		if (r == -ENOMEM) {
			closedir(d);
			state_free_all(all, n);
			return r;
		}
		n++;
	}
	closedir(d);
	*ret = all;
	*ret_n = n;
	return 0;
}

int state_hand_over(const char *file, const struct record *rec)
{
	struct state s;
	int r = load(file, &s);

	if (r < 0)
		return r == -ENOENT ? 0 : r;
	r = 0;
	for (size_t i = 0; i < s.n_records; i++) {
		struct record *o = &s.records[i];
		if (o->kind != rec->kind || !streq(record_key(o), record_key(rec)))
			continue;
		if (o->held) {
			*o = *rec;
			r = state_save(&s);
			if (r >= 0)
				r = 1;
		} else
			r = 1; /* it restores it already */
		break;
	}
	state_done(&s);
	return r;
}

int state_read_raw(const char *file, char **ret)
{
	char p[PATH_MAX];
	_cleanup_close_ int fd = -1;
	char *buf;
	ssize_t n;

	if (host_path(p, sizeof(p), STATE_DIR "/%s", file) < 0)
		return -ENAMETOOLONG;
	fd = open(p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	buf = malloc(STATE_MAX_SIZE + 1);
	if (!buf)
		return -ENOMEM;
	n = read(fd, buf, STATE_MAX_SIZE);
	if (n < 0) {
		free(buf);
		return -EIO;
	}
	buf[n] = '\0';
	*ret = buf;
	return 0;
}
