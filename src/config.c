/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <fcntl.h>
#include <libconfig.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "config.h"
#include "host.h"
#include "cpuset.h"
#include "dlib.h"
#include "macro.h"

#define DEFAULT_PCI_TIMEOUT 5.0
#define DEFAULT_UNBIND_TIMEOUT 10.0
#define DEFAULT_SCRIPT_TIMEOUT 60.0
#define DEFAULT_LOCK_TIMEOUT 60.0
#define DEFAULT_UNIT_TIMEOUT 30.0
#define DEFAULT_HUGEPAGE_TIMEOUT 10.0
#define DEFAULT_MODULE_WAIT 10.0

static void conf_error(struct conf *c, const char *file, unsigned line, const char *fmt, ...)
	_printf_(4, 5);
static void conf_error(struct conf *c, const char *file, unsigned line, const char *fmt, ...)
{
	char msg[1024], *full = NULL;
	char **n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0) {
		if (asprintf(&full, "%s:%u: %s", file ? file : c->path, line, msg) < 0)
			return;
	} else if (asprintf(&full, "%s: %s", file ? file : c->path, msg) < 0)
		return;
	n = realloc(c->errors, (c->n_errors + 1) * sizeof(*n));
	if (!n) {
		free(full);
		return;
	}
	c->errors = n;
	c->errors[c->n_errors++] = full;
}

void conf_done(struct conf *c)
{
	for (size_t i = 0; i < c->n_vms; i++) {
		free(c->vms[i].name);
		free(c->vms[i].pci);
		strv_free(c->vms[i].units, c->vms[i].n_units);
		strv_free(c->vms[i].user_units, c->vms[i].n_user_units);
		strv_free(c->vms[i].modules, c->vms[i].n_modules);
	}
	free(c->vms);
	for (size_t i = 0; i < c->n_errors; i++)
		free(c->errors[i]);
	free(c->errors);
	free(c->path);
	memset(c, 0, sizeof(*c));
}

const struct vm_conf *conf_find(const struct conf *c, const char *name)
{
	for (size_t i = 0; i < c->n_vms; i++)
		if (c->vms[i].name && streq(c->vms[i].name, name))
			return &c->vms[i];
	return NULL;
}

int uuid_normalize(const char *in, char out[37])
{
	char hex[33];
	size_t n = 0;

	for (const char *p = in; *p; p++) {
		if (*p == '-')
			continue;
		if (!isxdigit((unsigned char)*p) || n >= 32)
			return -EINVAL;
		hex[n++] = (char)tolower((unsigned char)*p);
	}
	if (n != 32)
		return -EINVAL;
	/* dashes, if any, must be where libvirt puts them */
	if (strchr(in, '-') && (strlen(in) != 36 || in[8] != '-' || in[13] != '-' || in[18] != '-' ||
				in[23] != '-'))
		return -EINVAL;
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
	return 0;
}

bool vm_name_is_safe(const char *name)
{
	size_t l = strlen(name);

	if (l == 0 || l > 255 || streq(name, ".") || streq(name, ".."))
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p == '/' || *p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

/* Owned by root (or, for test roots, by the caller) and writable by nobody else. */
/* A regular file of root's that no one else can write; its size in *size. */
static int check_file_safe(struct conf *c, int fd, const char *path, bool relax_owner, off_t *size)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode)) {
		conf_error(c, path, 0, "not a regular file");
		return -EINVAL;
	}
	if (st.st_uid != 0 && !(relax_owner && st.st_uid == geteuid())) {
		conf_error(c, path, 0, "refusing a configuration not owned by root (owner uid %u)",
			   (unsigned)st.st_uid);
		return -EPERM;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		conf_error(c, path, 0,
			   "refusing a group- or world-writable configuration (mode %04o): "
			   "chmod go-w %s",
			   (unsigned)(st.st_mode & 07777), path);
		return -EPERM;
	}
	*size = st.st_size;
	return 0;
}

/*
 * Every directory above the file (as it resolves) owned by root (or, for test roots, by the
 * caller) and writable by nobody else, as sudo and OpenDoas require: whoever can write one of
 * them can swap the file. A sticky directory of root's (/tmp) cannot be used to swap it.
 */
static int check_dirs_safe(struct conf *c, const char *path, bool relax_owner)
{
	char real[PATH_MAX];
	char *slash;

	if (!realpath(path, real))
		return negative_errno();
	while ((slash = strrchr(real, '/'))) {
		struct stat st;
		*(slash == real ? slash + 1 : slash) = '\0';
		if (lstat(real, &st) < 0)
			return negative_errno();
		if (st.st_uid != 0 && !(relax_owner && st.st_uid == geteuid())) {
			conf_error(c, path, 0, "refusing a configuration in %s, a directory not owned by root", real);
			return -EPERM;
		}
		if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !((st.st_mode & S_ISVTX) && st.st_uid == 0)) {
			conf_error(c, path, 0,
				   "refusing a configuration in %s, a directory writable by others (mode %04o)", real,
				   (unsigned)(st.st_mode & 07777));
			return -EPERM;
		}
		if (streq(real, "/"))
			break;
	}
	return 0;
}

static int read_text(struct conf *c, const char *path, bool relax_owner, char **ret)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, size;
	off_t file_size;
	int r;

	/* O_NONBLOCK: a FIFO or a device must not hang the hook; the type is checked next */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = negative_errno();
		if (r != -ENOENT)
			conf_error(c, path, 0, "cannot open: %s", strerror(-r));
		return r;
	}
	r = check_file_safe(c, fd, path, relax_owner, &file_size);
	if (r < 0)
		return r;
	r = check_dirs_safe(c, path, relax_owner);
	if (r < 0)
		return r;
	/* sized for the file, grown if it grows meanwhile: a buffer of the largest size allowed
	 * would be mapped and unmapped for every run */
	size = (size_t)MIN(file_size, (off_t)CONF_MAX_SIZE) + 1;
	for (;;) {
		ssize_t n;
		if (len == size) {
			char *nb;
			size = MIN(2 * size, (size_t)CONF_MAX_SIZE + 1);
			if (!(nb = realloc(buf, size + 1)))
				return -ENOMEM;
			buf = nb;
		} else if (!buf && !(buf = malloc(size + 1)))
			return -ENOMEM;
		n = read(fd, buf + len, size - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = negative_errno();
			conf_error(c, path, 0, "cannot read: %s", strerror(-r));
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > CONF_MAX_SIZE) {
			conf_error(c, path, 0, "larger than %d bytes", CONF_MAX_SIZE);
			return -EFBIG;
		}
	}
	if (memchr(buf, '\0', len)) {
		conf_error(c, path, 0, "contains a NUL byte");
		return -EINVAL;
	}
	buf[len] = '\0';
	*ret = TAKE_PTR(buf);
	return 0;
}

/*
 * The usual tutorials' kvm.conf is a shell fragment (VIRSH_GPU_VIDEO=pci_0000_09_00_0). Spot
 * it and say how to write the same in vfiohook's syntax, with the addresses converted.
 */
static bool shell_style_hint(struct conf *c, const char *text)
{
	char devices[512] = "", first[128] = "";
	unsigned line = 0, n = 0, first_line = 0;
	const char *p = text;

	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t l = eol ? (size_t)(eol - p) : strlen(p);
		const char *q = p;

		line++;
		while (q < p + l && isspace((unsigned char)*q))
			q++;
		if (strncmp(q, "export ", 7) == 0)
			q += 7;
		if (q < p + l && isupper((unsigned char)*q)) {
			const char *k = q;
			while (k < p + l && (isupper((unsigned char)*k) || isdigit((unsigned char)*k) ||
					     *k == '_'))
				k++;
			if (k < p + l && *k == '=') {
				unsigned d, b, s, f;
				const char *v = k + 1;
				if (*v == '"' || *v == '\'')
					v++;
				if (!first_line) {
					first_line = line;
					snprintf(first, sizeof(first), "%.*s", (int)(l - (size_t)(q - p)), q);
				}
				if (sscanf(v, "pci_%4x_%2x_%2x_%1x", &d, &b, &s, &f) == 4) {
					size_t dl = strlen(devices);
					snprintf(devices + dl, sizeof(devices) - dl, "%s\"%04x:%02x:%02x.%x\"",
						 n++ ? ", " : "", d, b, s, f);
				}
			}
		}
		p = eol ? eol + 1 : p + l;
	}
	if (!first_line)
		return false;
	conf_error(c, NULL, first_line,
		   "this is a shell-style kvm.conf from a passthrough tutorial (%s); 'vfiohook import' "
		   "converts it and the tutorial's scripts; vfiohook reads libconfig syntax, for example: "
		   "vm = ( { name = \"win10\"; pci = { devices = [ %s ]; }; } ); see kvm.conf(5)",
		   first, n ? devices : "\"0000:09:00.0\"");
	return true;
}

/*
 * @include'd files: each is opened and checked like kvm.conf itself, read once, and handed to
 * libconfig as a memfd with that very text, so libconfig never opens a path that was not
 * checked (nor one swapped after the check). The files they include are treated the same way.
 * Messages name the file, not the memfd.
 */
#define MAX_INCLUDES 64
static struct {
	char fdpath[32];
	char *path;
	int fd;
} includes[MAX_INCLUDES];
static size_t n_includes;

static void includes_done(void)
{
	for (size_t i = 0; i < n_includes; i++) {
		free(includes[i].path);
		close(includes[i].fd);
	}
	n_includes = 0;
}

static const char *real_file(const char *f)
{
	for (size_t i = 0; f && i < n_includes; i++)
		if (streq(f, includes[i].fdpath))
			return includes[i].path;
	return f;
}

static int expand_includes(struct conf *c, const char *file, const char *text, const char *dir,
			   bool relax_owner, unsigned depth, char **ret)
{
	_cleanup_free_ char *out = NULL;
	size_t out_len = 0;
	FILE *f;
	const char *p = text;
	unsigned line = 0;
	int ret_r = 0;

	if (depth > 10) {
		conf_error(c, file, 0, "@include nested more than 10 deep");
		return -ELOOP;
	}
	f = open_memstream(&out, &out_len);
	if (!f)
		return -ENOMEM;
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t l = eol ? (size_t)(eol - p) + 1 : strlen(p);
		const char *q = p, *s = NULL, *e = NULL;

		line++;
		while (q < p + l && isspace((unsigned char)*q))
			q++;
		if (strncmp(q, "@include", 8) == 0) {
			s = memchr(q, '"', l - (size_t)(q - p));
			e = s ? memchr(s + 1, '"', l - (size_t)(s + 1 - p)) : NULL;
		}
		if (s && e) {
			char inc[PATH_MAX];
			_cleanup_free_ char *sub = NULL, *expanded = NULL;
			int r, fd = -1;

			if ((e - s - 1) > 0 && s[1] == '/')
				snprintf(inc, sizeof(inc), "%.*s", (int)(e - s - 1), s + 1);
			else
				snprintf(inc, sizeof(inc), "%s/%.*s", dir, (int)(e - s - 1), s + 1);
			r = read_text(c, inc, relax_owner, &sub);
			if (r == -ENOENT)
				conf_error(c, file, line, "cannot open included file %s: %s", inc, strerror(ENOENT));
			if (r >= 0)
				r = expand_includes(c, inc, sub, dir, relax_owner, depth + 1, &expanded);
			if (r >= 0 && n_includes == MAX_INCLUDES) {
				conf_error(c, file, line, "more than %d included files", MAX_INCLUDES);
				r = -E2BIG;
			}
			if (r >= 0 && ((fd = memfd_create("kvm.conf-include", MFD_CLOEXEC)) < 0 ||
				       write(fd, expanded, strlen(expanded)) != (ssize_t)strlen(expanded))) {
				r = negative_errno();
				if (fd >= 0)
					close(fd);
			}
			if (r >= 0) {
				includes[n_includes].fd = fd;
				includes[n_includes].path = strdup(inc);
				snprintf(includes[n_includes].fdpath, sizeof(includes[0].fdpath), "/proc/self/fd/%d", fd);
				fprintf(f, "%.*s\"%s\"%.*s", (int)(s - p), p, includes[n_includes].fdpath,
					(int)(p + l - e - 1), e + 1);
				n_includes++;
			} else if (ret_r == 0)
				ret_r = r == -ENOENT ? -EINVAL : r; /* not "no kvm.conf": it is broken */
		} else
			fwrite(p, 1, l, f);
		p += l;
	}
	if (fclose(f) != 0)
		return -ENOMEM;
	if (ret_r < 0)
		return ret_r;
	*ret = TAKE_PTR(out);
	return 0;
}

static const char *type_name(int t)
{
	switch (t) {
	case CONFIG_TYPE_GROUP: return "a group { }";
	case CONFIG_TYPE_INT: case CONFIG_TYPE_INT64: return "an integer";
	case CONFIG_TYPE_FLOAT: return "a number";
	case CONFIG_TYPE_STRING: return "a string";
	case CONFIG_TYPE_BOOL: return "true or false";
	case CONFIG_TYPE_ARRAY: return "an array [ ]";
	case CONFIG_TYPE_LIST: return "a list ( )";
	default: return "a value";
	}
}

static unsigned sline(const config_setting_t *s) { return config_setting_source_line(s); }
/* libconfig names an included file as written in @include; say where it is */
static char include_dir[PATH_MAX];
static const char *sfile(const config_setting_t *s)
{
	static char full[PATH_MAX * 2];
	const char *f = real_file(config_setting_source_file(s));

	if (!f || f[0] == '/' || !include_dir[0])
		return f;
	snprintf(full, sizeof(full), "%s/%s", include_dir, f);
	return full;
}

static int want_seconds(struct conf *c, const config_setting_t *s, double max, double *ret)
{
	double v;

	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT: v = sym_config_setting_get_int(s); break;
	case CONFIG_TYPE_INT64: v = (double)sym_config_setting_get_int64(s); break;
	case CONFIG_TYPE_FLOAT: v = sym_config_setting_get_float(s); break;
	default:
		conf_error(c, sfile(s), sline(s), "%s must be a number of seconds, not %s",
			   config_setting_name(s), type_name(config_setting_type(s)));
		return -EINVAL;
	}
	if (!(v > 0) || v > max) {
		conf_error(c, sfile(s), sline(s), "%s must be between 0 and %g seconds", config_setting_name(s),
			   max);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

static int want_type(struct conf *c, const config_setting_t *s, int type, const char *what)
{
	if (config_setting_type(s) == type)
		return 0;
	conf_error(c, sfile(s), sline(s), "%s must be %s, not %s", what, type_name(type),
		   type_name(config_setting_type(s)));
	return -EINVAL;
}

static int unknown_key(struct conf *c, const config_setting_t *s, const char *where,
		       const char *known)
{
	conf_error(c, sfile(s), sline(s), "unknown key '%s' in %s (known: %s)", config_setting_name(s),
		   where, known);
	return -EINVAL;
}


/*
 * A group of settings: each key has a handler; anything else is an unknown key. Handlers
 * return 0, -EINVAL (reported already) or -ENOMEM (stop).
 */
typedef int (*key_handler)(struct conf *c, struct vm_conf *vm, const config_setting_t *s);
struct key {
	const char *name;
	key_handler fn;
};

static int parse_group(struct conf *c, struct vm_conf *vm, const config_setting_t *g, const char *what,
		       const char *where, const struct key *keys, size_t n_keys)
{
	char known[256] = "";
	int ret = 0;

	if (want_type(c, g, CONFIG_TYPE_GROUP, what) < 0)
		return -EINVAL;
	for (size_t k = 0; k < n_keys; k++) {
		size_t l = strlen(known);
		snprintf(known + l, sizeof(known) - l, "%s%s", k ? ", " : "", keys[k].name);
	}
	for (int i = 0; i < sym_config_setting_length(g); i++) {
		const config_setting_t *s = sym_config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		size_t k;
		int r;

		for (k = 0; k < n_keys && !streq(keys[k].name, name); k++)
			;
		r = k < n_keys ? keys[k].fn(c, vm, s) : unknown_key(c, s, where, known);
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			ret = r;
	}
	return ret;
}

#define PARSE_GROUP(c, vm, g, what, where, keys) parse_group(c, vm, g, what, where, keys, ELEMENTSOF(keys))
#define SECONDS_KEY(fn, field, max)                                                                \
	static int fn(struct conf *c, struct vm_conf *vm, const config_setting_t *s)               \
	{                                                                                          \
		return want_seconds(c, s, max, &vm->field);                                        \
	}

/* An array of strings, each checked by ok(); the result is NULL-terminated. */
static int want_strings(struct conf *c, const config_setting_t *s, const char *what,
			bool (*ok)(const char *), const char *hint, char ***ret, size_t *ret_n)
{
	int t = config_setting_type(s), n, r = 0;
	char **v;

	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
		conf_error(c, sfile(s), sline(s), "%s must be an array of strings [ \"...\" ]", what);
		return -EINVAL;
	}
	n = sym_config_setting_length(s);
	v = calloc((size_t)n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = sym_config_setting_get_elem(s, (unsigned)i);
		const char *str = config_setting_type(e) == CONFIG_TYPE_STRING ? sym_config_setting_get_string(e) : NULL;
		if (!str || !ok(str)) {
			conf_error(c, sfile(s), sline(s), "%s: \"%s\" is not %s", what, str ? str : "a string", hint);
			r = -EINVAL;
			continue;
		}
		v[*ret_n] = strdup(str);
		if (!v[*ret_n]) {
			strv_free(v, *ret_n);
			return -ENOMEM;
		}
		(*ret_n)++;
	}
	*ret = v;
	return r;
}

bool unit_name_is_valid(const char *s)
{
	size_t l = strlen(s);

	if (streq(s, "auto"))
		return true;
	if (l < 3 || l > 255 || !strchr(s, '.'))
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr(":-_.\\@", *p))
			return false;
	return true;
}

static bool user_unit_name_ok(const char *s)
{
	return unit_name_is_valid(s) && !streq(s, "auto");
}

static bool module_name_ok(const char *s)
{
	size_t l = strlen(s);

	if (l == 0 || l > 55)
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
			return false;
	return true;
}

static bool want_bool(struct conf *c, const config_setting_t *s, bool *ret)
{
	if (want_type(c, s, CONFIG_TYPE_BOOL, config_setting_name(s)) < 0)
		return false;
	*ret = sym_config_setting_get_bool(s) != 0;
	return true;
}

/* "2M", "1G", "2048K" or a number of KiB */
static int page_size(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	if (streq(end, "K") || streq(end, "k") || streq(end, ""))
		*ret = v;
	else if (streq(end, "M") || streq(end, "m"))
		*ret = v * 1024;
	else if (streq(end, "G") || streq(end, "g"))
		*ret = v * 1024 * 1024;
	else
		return -EINVAL;
	return *ret == 2048 || *ret == 1048576 ? 0 : -ERANGE;
}

static bool cpu_list_ok(const char *s)
{
	struct cpuset set;
	return cpuset_parse(s, &set) == 0 && !cpuset_empty(&set);
}

static int want_cpus(struct conf *c, const config_setting_t *s, const char *what, const char *word,
		     char *out, size_t size)
{
	const char *v = config_setting_type(s) == CONFIG_TYPE_STRING ? sym_config_setting_get_string(s) : NULL;

	if (!v || strlen(v) >= size || (!streq(v, word) && !streq(v, "all") && !cpu_list_ok(v))) {
		conf_error(c, sfile(s), sline(s), "%s must be \"%s\"%s or a CPU list such as \"0-3,8\"",
			   what, word, streq(word, "auto") ? "" : ", \"all\"");
		return -EINVAL;
	}
	if (streq(word, "auto") && streq(v, "all")) {
		conf_error(c, sfile(s), sline(s), "%s cannot be \"all\": that isolates nothing", what);
		return -EINVAL;
	}
	strcpy(out, v);
	return 0;
}

static int pci_devices(struct conf *c, struct vm_conf *vm, const config_setting_t *s)
{
	int t = config_setting_type(s), ret = 0;

	if (t == CONFIG_TYPE_STRING) {
		if (!streq(sym_config_setting_get_string(s), "hostdev")) {
			conf_error(c, sfile(s), sline(s),
				   "pci.devices must be a list of PCI addresses or \"hostdev\", not \"%s\"",
				   sym_config_setting_get_string(s));
			return -EINVAL;
		}
		vm->pci_from_hostdev = true;
		return 0;
	}
	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
		conf_error(c, sfile(s), sline(s),
			   "pci.devices must be an array of PCI addresses [ \"0000:09:00.0\" ] or \"hostdev\"");
		return -EINVAL;
	}
	free(vm->pci);
	vm->n_pci = 0;
	vm->pci = calloc((size_t)sym_config_setting_length(s) + 1, sizeof(*vm->pci));
	if (!vm->pci)
		return -ENOMEM;
	for (int j = 0; j < sym_config_setting_length(s); j++) {
		const config_setting_t *e = sym_config_setting_get_elem(s, (unsigned)j);
		const char *v = sym_config_setting_get_string(e);
		struct pci_addr a;
		bool dup = false;

		if (!v || pci_addr_parse(v, &a) < 0) {
			conf_error(c, sfile(s), sline(e) ? sline(e) : sline(s),
				   "'%s' is not a PCI address (expected DDDD:BB:SS.F, e.g. \"0000:09:00.0\")",
				   v ? v : type_name(config_setting_type(e)));
			ret = -EINVAL;
			continue;
		}
		for (size_t k = 0; k < vm->n_pci; k++)
			dup |= pci_addr_equal(&vm->pci[k], &a);
		if (dup) {
			conf_error(c, sfile(s), sline(e) ? sline(e) : sline(s), "PCI address %s is listed twice", v);
			ret = -EINVAL;
			continue;
		}
		vm->pci[vm->n_pci++] = a;
	}
	return ret;
}

SECONDS_KEY(pci_timeout, pci_timeout, 600)
SECONDS_KEY(pci_unbind_timeout, unbind_timeout, 600)
SECONDS_KEY(scripts_timeout, script_timeout, 3600)
SECONDS_KEY(display_timeout, unit_timeout, 600)
SECONDS_KEY(hugepages_timeout, hp_timeout, 600)
SECONDS_KEY(modules_wait, module_wait, 600)

static int display_units(struct conf *c, struct vm_conf *vm, const config_setting_t *s)
{
	return want_strings(c, s, "display.units", unit_name_is_valid, "a systemd unit name (or \"auto\")",
			    &vm->units, &vm->n_units);
}

static int display_user_units(struct conf *c, struct vm_conf *vm, const config_setting_t *s)
{
	return want_strings(c, s, "display.user_units", user_unit_name_ok, "a systemd unit name", &vm->user_units,
			    &vm->n_user_units);
}

static int modules_unload(struct conf *c, struct vm_conf *vm, const config_setting_t *s)
{
	return want_strings(c, s, "modules.unload", module_name_ok, "a module name", &vm->modules,
			    &vm->n_modules);
}

static int hugepages_size(struct conf *c, struct vm_conf *vm, const config_setting_t *s)
{
	const char *v = config_setting_type(s) == CONFIG_TYPE_STRING ? sym_config_setting_get_string(s) : NULL;

	if (!v || (!streq(v, "auto") && page_size(v, &vm->hp_size_kib) < 0)) {
		conf_error(c, sfile(s), sline(s), "hugepages.size must be \"2M\", \"1G\" or \"auto\"");
		return -EINVAL;
	}
	return 0;
}

static int hugepages_pages(struct conf *c, struct vm_conf *vm, const config_setting_t *s)
{
	int t = config_setting_type(s);

	if (t == CONFIG_TYPE_STRING && streq(sym_config_setting_get_string(s), "auto"))
		vm->hp_pages = 0;
	else if ((t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) && sym_config_setting_get_int64(s) > 0 &&
		 sym_config_setting_get_int64(s) <= (1ll << 32))
		vm->hp_pages = (uint64_t)sym_config_setting_get_int64(s);
	else {
		conf_error(c, sfile(s), sline(s), "hugepages.pages must be a positive number of pages or \"auto\"");
		return -EINVAL;
	}
	return 0;
}

static int hugepages_drop_caches(struct conf *c, struct vm_conf *vm, const config_setting_t *s)
{
	return want_bool(c, s, &vm->hp_drop_caches) ? 0 : -EINVAL;
}

static int governor_name(struct conf *c, struct vm_conf *vm, const config_setting_t *s)
{
	const char *v = config_setting_type(s) == CONFIG_TYPE_STRING ? sym_config_setting_get_string(s) : NULL;

	if (!v || !*v || strlen(v) >= sizeof(vm->governor) || !module_name_ok(v)) {
		conf_error(c, sfile(s), sline(s), "governor.name must be a cpufreq governor name");
		return -EINVAL;
	}
	strcpy(vm->governor, v);
	return 0;
}

static int governor_cpus(struct conf *c, struct vm_conf *vm, const config_setting_t *s)
{
	return want_cpus(c, s, "governor.cpus", "pinned", vm->governor_cpus, sizeof(vm->governor_cpus));
}

static int isolation_host_cpus(struct conf *c, struct vm_conf *vm, const config_setting_t *s)
{
	return want_cpus(c, s, "isolation.host_cpus", "auto", vm->host_cpus, sizeof(vm->host_cpus));
}

static int vm_name(struct conf *c, struct vm_conf *vm, const config_setting_t *s)
{
	const char *v;

	if (want_type(c, s, CONFIG_TYPE_STRING, "name") < 0)
		return -EINVAL;
	v = sym_config_setting_get_string(s);
	if (!vm_name_is_safe(v)) {
		conf_error(c, sfile(s), sline(s),
			   "name \"%s\" cannot be a libvirt domain name (empty, '.', '..', '/' or control "
			   "characters)",
			   v);
		return -EINVAL;
	}
	free(vm->name);
	return (vm->name = strdup(v)) ? 0 : -ENOMEM;
}

static int vm_uuid(struct conf *c, struct vm_conf *vm, const config_setting_t *s)
{
	if (want_type(c, s, CONFIG_TYPE_STRING, "uuid") < 0)
		return -EINVAL;
	if (uuid_normalize(sym_config_setting_get_string(s), vm->uuid) < 0) {
		conf_error(c, sfile(s), sline(s), "uuid \"%s\" is not a UUID", sym_config_setting_get_string(s));
		return -EINVAL;
	}
	return 0;
}

static int vm_pci(struct conf *c, struct vm_conf *vm, const config_setting_t *g)
{
	static const struct key keys[] = {
		{ "devices", pci_devices }, { "timeout", pci_timeout }, { "unbind_timeout", pci_unbind_timeout },
	};
	return PARSE_GROUP(c, vm, g, "pci", "pci", keys);
}

static int vm_scripts(struct conf *c, struct vm_conf *vm, const config_setting_t *g)
{
	static const struct key keys[] = { { "timeout", scripts_timeout } };
	return PARSE_GROUP(c, vm, g, "scripts", "scripts", keys);
}

static int vm_display(struct conf *c, struct vm_conf *vm, const config_setting_t *g)
{
	static const struct key keys[] = { { "units", display_units },
					   { "user_units", display_user_units },
					   { "timeout", display_timeout } };
	return PARSE_GROUP(c, vm, g, "display", "display", keys);
}

static int vm_vtconsole(struct conf *c, struct vm_conf *vm, const config_setting_t *s)
{
	return want_bool(c, s, &vm->vtconsole) ? 0 : -EINVAL;
}

static int vm_framebuffer(struct conf *c, struct vm_conf *vm, const config_setting_t *s)
{
	return want_bool(c, s, &vm->framebuffer) ? 0 : -EINVAL;
}

static int vm_modules(struct conf *c, struct vm_conf *vm, const config_setting_t *g)
{
	static const struct key keys[] = { { "unload", modules_unload }, { "wait", modules_wait } };
	return PARSE_GROUP(c, vm, g, "modules", "modules", keys);
}

static int vm_hugepages(struct conf *c, struct vm_conf *vm, const config_setting_t *g)
{
	static const struct key keys[] = {
		{ "size", hugepages_size },
		{ "pages", hugepages_pages },
		{ "timeout", hugepages_timeout },
		{ "drop_caches", hugepages_drop_caches },
	};
	vm->hugepages = true;
	return PARSE_GROUP(c, vm, g, "hugepages", "hugepages", keys);
}

static int vm_governor(struct conf *c, struct vm_conf *vm, const config_setting_t *g)
{
	static const struct key keys[] = { { "name", governor_name }, { "cpus", governor_cpus } };
	int r;

	strcpy(vm->governor_cpus, "all");
	r = PARSE_GROUP(c, vm, g, "governor", "governor", keys);
	if (r != -ENOMEM && config_setting_type(g) == CONFIG_TYPE_GROUP && !vm->governor[0]) {
		conf_error(c, sfile(g), sline(g), "governor needs a name, e.g. name = \"performance\";");
		r = -EINVAL;
	}
	return r;
}

static int vm_isolation(struct conf *c, struct vm_conf *vm, const config_setting_t *g)
{
	static const struct key keys[] = { { "host_cpus", isolation_host_cpus } };
	strcpy(vm->host_cpus, "auto");
	return PARSE_GROUP(c, vm, g, "isolation", "isolation", keys);
}

static int parse_vm(struct conf *c, struct vm_conf *vm, const config_setting_t *g)
{
	static const struct key keys[] = {
		{ "name", vm_name },		{ "uuid", vm_uuid },	     { "pci", vm_pci },
		{ "display", vm_display },	{ "vtconsole", vm_vtconsole }, { "framebuffer", vm_framebuffer },
		{ "modules", vm_modules },	{ "hugepages", vm_hugepages }, { "governor", vm_governor },
		{ "isolation", vm_isolation }, { "scripts", vm_scripts },
	};
	int r;

	vm->line = sline(g);
	vm->pci_timeout = DEFAULT_PCI_TIMEOUT;
	vm->unbind_timeout = DEFAULT_UNBIND_TIMEOUT;
	vm->script_timeout = DEFAULT_SCRIPT_TIMEOUT;
	vm->unit_timeout = DEFAULT_UNIT_TIMEOUT;
	vm->hp_timeout = DEFAULT_HUGEPAGE_TIMEOUT;
	vm->module_wait = DEFAULT_MODULE_WAIT;
	r = PARSE_GROUP(c, vm, g, "each entry of vm", "a vm entry", keys);
	if (r != -ENOMEM && !vm->name && config_setting_type(g) == CONFIG_TYPE_GROUP) {
		const config_setting_t *n = sym_config_setting_get_member(g, "name");
		if (n && config_setting_type(n) == CONFIG_TYPE_STRING)
			return r; /* there is one, but it was refused (reported already) */
		conf_error(c, sfile(g), sline(g), "vm entry without a name");
		r = -EINVAL;
	}
	return r;
}

static int parse_root(struct conf *c, config_t *cfg)
{
	const config_setting_t *root = config_root_setting(cfg);
	int ret = 0;

	for (int i = 0; i < sym_config_setting_length(root); i++) {
		const config_setting_t *s = sym_config_setting_get_elem(root, (unsigned)i);
		const char *k = config_setting_name(s);

		if (streq(k, "vm")) {
			int n = sym_config_setting_length(s);
			if (config_setting_type(s) != CONFIG_TYPE_LIST) {
				conf_error(c, sfile(s), sline(s),
					   "vm must be a list of groups: vm = ( { name = \"...\"; ... } );");
				ret = -EINVAL;
				continue;
			}
			c->vms = calloc((size_t)n + 1, sizeof(*c->vms));
			if (!c->vms)
				return -ENOMEM;
			for (int j = 0; j < n; j++) {
				struct vm_conf *vm = &c->vms[c->n_vms++];
				int r = parse_vm(c, vm, sym_config_setting_get_elem(s, (unsigned)j));
				if (r == -ENOMEM)
					return r;
				if (r < 0)
					ret = r;
				for (size_t k2 = 0; vm->name && k2 + 1 < c->n_vms; k2++)
					if (c->vms[k2].name && streq(c->vms[k2].name, vm->name)) {
						conf_error(c, NULL, vm->line,
							   "VM \"%s\" is configured twice (first at line %u)",
							   vm->name, c->vms[k2].line);
						ret = -EINVAL;
					}
			}
		} else if (streq(k, "lock_timeout")) {
			if (want_seconds(c, s, 3600, &c->lock_timeout) < 0)
				ret = -EINVAL;
		} else if (isupper((unsigned char)k[0]) && strncmp(k, "VIRSH_", 6) == 0) {
			conf_error(c, sfile(s), sline(s),
				   "'%s' is a shell-style tutorial setting; vfiohook reads libconfig syntax: "
				   "vm = ( { name = \"win10\"; pci = { devices = [ \"0000:09:00.0\" ]; }; } ); "
				   "see kvm.conf(5)",
				   k);
			ret = -EINVAL;
		} else
			ret = unknown_key(c, s, "the top level", "vm, lock_timeout");
	}
	return ret;
}

/* Can text name vm, without counting what it includes? */
static bool text_may_name(const char *text, const char *vm)
{
	char quoted[300];
	int n;

	/*
	 * Only a full parse can tell when the file has escapes, C comments or adjacent strings
	 * (libconfig joins "win" "10" into "win10").
	 */
	if (strpbrk(vm, "\\\"") || strchr(text, '\\'))
		return true;
	for (const char *q = strstr(text, "/*"); q; q = strstr(q + 2, "/*")) {
		const char *bol = q;
		while (bol > text && bol[-1] != '\n')
			bol--;
		if (!memchr(bol, '#', (size_t)(q - bol)))
			return true; /* a C comment, not a slash-star inside a # comment */
	}
	for (const char *q = strchr(text, '"'); q; q = strchr(q + 1, '"')) {
		const char *after = q + 1;
		while (*after == ' ' || *after == '\t' || *after == '\n' || *after == '\r')
			after++;
		if (*after == '"')
			return true;
	}
	n = snprintf(quoted, sizeof(quoted), "\"%s\"", vm);
	return n < 0 || (size_t)n >= sizeof(quoted) || strstr(text, quoted) != NULL;
}

bool conf_may_name(const struct conf *c, const char *text, const char *vm)
{
	/* what it includes is not read here: it might name the VM */
	return strstr(text, "@include") || text_may_name(text, vm);
}

/* The file and everything it includes, searched as text; true when anything is unreadable. */
static bool file_may_name(const char *path, const char *dir, bool relax_owner, const char *vm, unsigned depth)
{
	struct conf scratch = { 0 };
	_cleanup_free_ char *text = NULL;
	bool may;

	scratch.path = (char *)path;
	if (depth > 10 || read_text(&scratch, path, relax_owner, &text) < 0) {
		strv_free(scratch.errors, scratch.n_errors);
		return true;
	}
	strv_free(scratch.errors, scratch.n_errors);
	may = text_may_name(text, vm);
	for (const char *q = strstr(text, "@include"); !may && q; q = strstr(q + 8, "@include")) {
		const char *s = strchr(q, '"'), *e = s ? strchr(s + 1, '"') : NULL;
		char inc[PATH_MAX];
		if (!e)
			return true;
		if (e - s - 1 > 0 && s[1] == '/')
			snprintf(inc, sizeof(inc), "%.*s", (int)(e - s - 1), s + 1);
		else
			snprintf(inc, sizeof(inc), "%s/%.*s", dir, (int)(e - s - 1), s + 1);
		may = file_may_name(inc, dir, relax_owner, vm, depth + 1);
	}
	return may;
}

bool conf_file_may_name(const char *path, bool relax_owner, const char *vm)
{
	_cleanup_free_ char *dir = strdup(path);

	return !dir || file_may_name(path, dirname(dir), relax_owner, vm, 0);
}

int conf_load(const char *path, bool relax_owner, struct conf *c)
{
	return conf_load_for(path, relax_owner, NULL, c);
}

int conf_load_for(const char *path, bool relax_owner, const char *vm, struct conf *c)
{
	_cleanup_free_ char *text = NULL, *dir = NULL, *expanded = NULL;
	const char *incdir;
	config_t cfg;
	int r;

	memset(c, 0, sizeof(*c));
	c->lock_timeout = DEFAULT_LOCK_TIMEOUT;
	c->path = strdup(path);
	dir = strdup(path);
	if (!c->path || !dir)
		return -ENOMEM;
	r = read_text(c, path, relax_owner, &text);
	if (r < 0)
		return r;
	if (vm && !conf_may_name(c, text, vm))
		return 0; /* not configured: the hook's fast path for every other VM */
	r = dlopen_libconfig();
	if (r < 0) {
		conf_error(c, path, 0, "libconfig (libconfig.so.9) is not installed");
		return r;
	}
	incdir = dirname(dir);
	includes_done();
	r = expand_includes(c, path, text, incdir, relax_owner, 0, &expanded);
	if (r < 0) {
		includes_done();
		return r;
	}

	sym_config_init(&cfg);
	/* no include directory: libconfig would put it in front of the memfds' absolute names */
	snprintf(include_dir, sizeof(include_dir), "%s", incdir);
	if (sym_config_read_string(&cfg, expanded) == CONFIG_FALSE) {
		const char *f = real_file(config_error_file(&cfg));
		char full[PATH_MAX * 2];

		if (f && f[0] != '/') {
			snprintf(full, sizeof(full), "%s/%s", incdir, f);
			f = full;
		}
		if (!shell_style_hint(c, text))
			conf_error(c, f, (unsigned)config_error_line(&cfg), "%s", config_error_text(&cfg));
		sym_config_destroy(&cfg);
		includes_done();
		return -EINVAL;
	}
	r = parse_root(c, &cfg);
	sym_config_destroy(&cfg);
	includes_done();
	if (r == 0 && c->n_errors > 0)
		r = -EINVAL;
	return r;
}
