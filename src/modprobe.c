/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * modprobe's resolution, as libkmod (kmod 30) does it, for the modules this hook loads
 * (vfio-pci and what it needs; a GPU driver given back at release): read from depmod's
 * indexes and modprobe.d in process, so that a prepare does not load libkmod, which brings
 * libcrypto, liblzma and libzstd with it. See include/modprobe.h for where it gives way to
 * libkmod.
 *
 * libkmod's list for `modprobe NAME`: for each dependency of NAME (modules.dep lists them
 * last-loaded first; libkmod walks them from the end), its softdep "pre:" modules' own lists,
 * the dependency, its "post:" modules' lists; then the same for NAME. A module's softdep is
 * the first softdep line whose pattern matches its name; a softdep name is looked up as a
 * module (aliases, built-in modules), and skipped when nothing has that name. Options are every
 * "options" line for the module, then the kernel command line's NAME.param=value words.
 */
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <dirent.h>

#include "macro.h"
#include "modprobe.h"

#define INDEX_MAGIC 0xB007F457u
#define INDEX_VERSION_MAJOR 2u
#define NODE_PREFIX 0x80000000u
#define NODE_VALUES 0x40000000u
#define NODE_CHILDS 0x20000000u
#define NODE_MASK 0x0FFFFFFFu

#define MAX_STEPS 512
#define MAX_DEPTH 64
#define MAX_CONF_SIZE (1u << 20)

struct index {
	const uint8_t *p;
	size_t size;
	uint32_t root;
};

struct node {
	const char *prefix; /* "" when none */
	unsigned first, last;
	const uint8_t *children; /* be32 offsets, last - first + 1 of them; NULL when none */
	const char *value;       /* the first value, NULL when none */
};

enum conf_kind { C_ALIAS, C_BLACKLIST, C_OPTIONS, C_INSTALL, C_REMOVE, C_SOFTDEP };

struct conf {
	enum conf_kind kind;
	char *name; /* '-' as '_' outside [...] */
	char *rest; /* options, command or softdep list; alias: the module */
};

struct mod {
	char *name;
	bool visited, required;
};

struct modprobe {
	char *moddir;
	struct index dep, builtin, alias, builtin_alias;
	struct conf *conf;
	size_t n_conf;
	/* one entry per module name met in a resolution, as libkmod keeps one object per name */
	struct mod *mods;
	size_t n_mods;
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int index_open(struct index *ix, const char *dir, const char *file, bool required)
{
	char path[PATH_MAX];
	_cleanup_close_ int fd = -1;
	struct stat st;
	void *p;

	ix->p = NULL;
	ix->size = 0;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path))
		return -EOPNOTSUPP;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return required || errno != ENOENT ? -EOPNOTSUPP : 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 12 || st.st_size > (off_t)NODE_MASK)
		return -EOPNOTSUPP;
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		return -EOPNOTSUPP;
	ix->p = p;
	ix->size = (size_t)st.st_size;
	if (be32(ix->p) != INDEX_MAGIC || be32(ix->p + 4) >> 16 != INDEX_VERSION_MAJOR) {
		munmap(p, ix->size);
		ix->p = NULL;
		return -EOPNOTSUPP;
	}
	ix->root = be32(ix->p + 8);
	return 0;
}

static void index_close(struct index *ix)
{
	if (ix->p)
		munmap((void *)ix->p, ix->size);
	ix->p = NULL;
}

/* A NUL-terminated string at POS, inside the file; its end in *end. */
static const char *index_str(const struct index *ix, size_t pos, size_t *end)
{
	const uint8_t *nul;

	if (pos >= ix->size || !(nul = memchr(ix->p + pos, '\0', ix->size - pos)))
		return NULL;
	*end = (size_t)(nul - ix->p) + 1;
	return (const char *)ix->p + pos;
}

static int node_read(const struct index *ix, uint32_t off, struct node *n)
{
	size_t pos = off & NODE_MASK;

	*n = (struct node){ .prefix = "" };
	if ((off & NODE_PREFIX) && !(n->prefix = index_str(ix, pos, &pos)))
		return -EOPNOTSUPP;
	if (off & NODE_CHILDS) {
		if (pos + 2 > ix->size)
			return -EOPNOTSUPP;
		n->first = ix->p[pos];
		n->last = ix->p[pos + 1];
		pos += 2;
		if (n->last < n->first || n->last >= 128 || pos + 4 * (size_t)(n->last - n->first + 1) > ix->size)
			return -EOPNOTSUPP;
		n->children = ix->p + pos;
		pos += 4 * (size_t)(n->last - n->first + 1);
	}
	if (off & NODE_VALUES) {
		if (pos + 4 > ix->size)
			return -EOPNOTSUPP;
		if (be32(ix->p + pos) > 0 && !(n->value = index_str(ix, pos + 8, &pos)))
			return -EOPNOTSUPP;
	}
	return 0;
}

static uint32_t node_child(const struct node *n, unsigned char c)
{
	if (!n->children || c < n->first || c > n->last)
		return 0;
	return be32(n->children + 4 * (size_t)(c - n->first));
}

static bool is_wild(char c)
{
	return c == '*' || c == '?' || c == '[';
}

/*
 * KEY down the trie. Exact (WILD false): 1 and *value (its first value) when KEY is a key.
 * WILD, for an alias index whose keys are patterns ("pci:v00001002d*", "fs-ext4", ...): 1,
 * "maybe", at the first wildcard KEY could meet on the way, or at KEY itself. 0 when not;
 * -EOPNOTSUPP for a damaged index.
 */
static int index_walk(const struct index *ix, const char *key, bool wild, const char **value)
{
	uint32_t off = ix->root;
	size_t i = 0;

	if (value)
		*value = NULL;
	for (unsigned steps = 0; ix->p && off && steps < 4096; steps++) {
		struct node n;
		size_t j;
		if (node_read(ix, off, &n) < 0)
			return -EOPNOTSUPP;
		for (j = 0; n.prefix[j]; j++) {
			if (wild && is_wild(n.prefix[j]))
				return 1;
			if (n.prefix[j] != key[i + j])
				return 0;
		}
		i += j;
		if (wild && (node_child(&n, '*') || node_child(&n, '?') || node_child(&n, '[')))
			return 1;
		if (!key[i]) {
			if (value)
				*value = n.value;
			return n.value ? 1 : 0;
		}
		off = node_child(&n, (unsigned char)key[i++]);
	}
	return ix->p && off ? -EOPNOTSUPP : 0;
}

static int index_get(const struct index *ix, const char *key, const char **value)
{
	return index_walk(ix, key, false, value);
}

static int index_may_match(const struct index *ix, const char *key)
{
	return index_walk(ix, key, true, NULL);
}

/* libkmod's underscores(): '-' as '_', except in a [...] range. */
static void underscores(char *s)
{
	for (size_t i = 0; s[i]; i++) {
		if (s[i] == '-')
			s[i] = '_';
		else if (s[i] == '[') {
			i += strcspn(s + i, "]");
			if (!s[i])
				break;
		}
	}
}

/* A module's name from its file name: the base name up to its first '.', '-' as '_'. */
static char *path_to_name(const char *path, size_t len)
{
	const char *b = path;
	char *n;
	size_t l;

	for (size_t i = 0; i < len; i++)
		if (path[i] == '/')
			b = path + i + 1;
	l = (size_t)(path + len - b);
	l = strcspn(b, ".") < l ? strcspn(b, ".") : l;
	if (!l || !(n = strndup(b, l)))
		return NULL;
	for (char *c = n; *c; c++)
		if (*c == '-')
			*c = '_';
	return n;
}

static int conf_add(struct modprobe *m, enum conf_kind kind, const char *name, const char *rest)
{
	struct conf *nc = realloc(m->conf, (m->n_conf + 1) * sizeof(*nc));
	struct conf *c;

	if (!nc)
		return -ENOMEM;
	m->conf = nc;
	c = &nc[m->n_conf];
	c->kind = kind;
	c->name = strdup(name);
	c->rest = rest ? strdup(rest) : NULL;
	if (!c->name || (rest && !c->rest)) {
		free(c->name);
		free(c->rest);
		return -ENOMEM;
	}
	m->n_conf++;
	return 0;
}

/* One logical line of a modprobe.d file, as libkmod reads it. */
static int conf_line(struct modprobe *m, char *line)
{
	static const struct {
		const char *word;
		enum conf_kind kind;
	} words[] = {
		{ "alias", C_ALIAS },	  { "blacklist", C_BLACKLIST }, { "options", C_OPTIONS },
		{ "install", C_INSTALL }, { "remove", C_REMOVE },	{ "softdep", C_SOFTDEP },
	};
	char *save = NULL, *cmd, *name, *rest;

	if (!line[0] || line[0] == '#' || !(cmd = strtok_r(line, "\t ", &save)))
		return 0;
	for (size_t i = 0; i < ELEMENTSOF(words); i++) {
		if (!streq(cmd, words[i].word))
			continue;
		if (!(name = strtok_r(NULL, "\t ", &save)))
			return 0; /* libkmod ignores the bad line */
		if (words[i].kind == C_BLACKLIST)
			rest = NULL;
		else if (words[i].kind == C_ALIAS)
			rest = strtok_r(NULL, "\t ", &save);
		else
			rest = strtok_r(NULL, "", &save);
		if (words[i].kind != C_BLACKLIST && !rest)
			return 0;
		underscores(name);
		if (words[i].kind == C_ALIAS)
			underscores(rest);
		if (words[i].kind == C_OPTIONS)
			for (char *c = rest; *c; c++)
				if (*c == '\t')
					*c = ' ';
		return conf_add(m, words[i].kind, name, rest);
	}
	return 0; /* include, config, weakdep, anything else: not libkmod 30's */
}

static int conf_parse(struct modprobe *m, const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	ssize_t k;
	char *line;
	struct stat st;
	int r = 0;

	if (fd < 0)
		return 0; /* as libkmod: a file it cannot open is skipped */
	if (fstat(fd, &st) < 0)
		return -EOPNOTSUPP;
	if (S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3)
		return 0; /* a link to /dev/null masks a file of that name in a later directory */
	if (!S_ISREG(st.st_mode) || st.st_size > MAX_CONF_SIZE)
		return -EOPNOTSUPP;
	if (!(buf = malloc((size_t)st.st_size + 2)))
		return -ENOMEM;
	while (len <= (size_t)st.st_size && (k = read(fd, buf + len, (size_t)st.st_size + 1 - len)) > 0)
		len += (size_t)k;
	if (len > (size_t)st.st_size)
		return -EOPNOTSUPP; /* grew while read */
	buf[len] = '\0';
	/* a backslash before a newline joins the lines; before another character it is dropped */
	line = buf;
	for (char *w = buf, *s = buf;; s++) {
		if (*s == '\\' && s[1] == '\n') {
			s++;
			continue;
		}
		if (*s == '\\' && s[1])
			s++;
		if (*s == '\n' || !*s) {
			bool end = !*s;
			*w = '\0';
			if (r >= 0)
				r = conf_line(m, line);
			if (end)
				break;
			line = w = s + 1;
			continue;
		}
		*w++ = *s;
	}
	return r;
}

struct conf_file {
	char *name;
	char *path;
};

static int cmp_conf_file(const void *a, const void *b)
{
	return strcmp(((const struct conf_file *)a)->name, ((const struct conf_file *)b)->name);
}

static int conf_file_add(struct conf_file **v, size_t *n, const char *name, const char *path)
{
	struct conf_file *nv;

	for (size_t i = 0; i < *n; i++)
		if (streq((*v)[i].name, name))
			return 0; /* an earlier directory's file of that name wins */
	if (!(nv = realloc(*v, (*n + 1) * sizeof(**v))))
		return -ENOMEM;
	*v = nv;
	nv[*n].name = strdup(name);
	nv[*n].path = strdup(path);
	if (!nv[*n].name || !nv[*n].path) {
		free(nv[*n].name);
		free(nv[*n].path);
		return -ENOMEM;
	}
	(*n)++;
	return 0;
}

static bool conf_name_ok(const char *n)
{
	size_t l = strlen(n);

	return n[0] != '.' && l >= 6 && (streq(n + l - 5, ".conf") || streq(n + l - 6, ".alias"));
}

/* The files libkmod reads, in its order: all of them sorted by name, the first of a name. */
static int conf_read(struct modprobe *m, const char *const *confdirs)
{
	static const char *const defaults[] = { "/etc/modprobe.d",	     "/run/modprobe.d",
						"/usr/local/lib/modprobe.d", "/usr/lib/modprobe.d",
						"/lib/modprobe.d",	     NULL };
	struct conf_file *files = NULL;
	size_t n = 0;
	char path[PATH_MAX];
	int r;

	if ((size_t)snprintf(path, sizeof(path), "%s/modules.softdep", m->moddir) >= sizeof(path))
		return -EOPNOTSUPP;
	r = conf_file_add(&files, &n, "modules.softdep", path);
	for (const char *const *d = confdirs ? confdirs : defaults; r >= 0 && *d; d++) {
		DIR *dir;
		struct dirent *de;
		struct stat st;
		if (stat(*d, &st) < 0)
			continue;
		if (!S_ISDIR(st.st_mode)) {
			const char *b = strrchr(*d, '/');
			r = conf_file_add(&files, &n, b ? b + 1 : *d, *d);
			continue;
		}
		if (!(dir = opendir(*d)))
			continue;
		while (r >= 0 && (de = readdir(dir))) {
			if (!conf_name_ok(de->d_name))
				continue;
			if ((size_t)snprintf(path, sizeof(path), "%s/%s", *d, de->d_name) >= sizeof(path)) {
				r = -EOPNOTSUPP;
				break;
			}
			if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
				continue;
			r = conf_file_add(&files, &n, de->d_name, path);
		}
		closedir(dir);
	}
	if (r >= 0 && n)
		qsort(files, n, sizeof(*files), cmp_conf_file);
	for (size_t i = 0; i < n; i++) {
		if (r >= 0)
			r = conf_parse(m, files[i].path);
		free(files[i].name);
		free(files[i].path);
	}
	free(files);
	return r;
}

/* The kernel command line's module words, as kmod 30 reads them: NAME.param=value adds an
 * option, modprobe.blacklist=A,B blacklists (names as written). */
static int parse_cmdline(struct modprobe *m, const char *cmdline)
{
	_cleanup_free_ char *buf = strdup(cmdline);
	char *p, *word, *param = NULL;
	bool is_module = true;
	int r = 0;

	if (!buf)
		return -ENOMEM;
	if (strchr(buf, '"'))
		return -EOPNOTSUPP; /* quoting differs between kmod versions */
	for (p = word = buf;; p++) {
		char c = *p;
		if (c == ' ' || c == '\0' || c == '\n') {
			*p = '\0';
			if (is_module && param) {
				if (streq(word, "modprobe") && strncmp(param, "blacklist=", 10) == 0) {
					char *list = param + 10, *t;
					while (r >= 0 && (t = strsep(&list, ",")))
						r = conf_add(m, C_BLACKLIST, t, NULL);
				} else {
					underscores(word);
					r = conf_add(m, C_OPTIONS, word, param);
				}
			}
			if (c != ' ' || r < 0)
				break;
			param = NULL;
			is_module = true;
			word = p + 1;
		} else if (c == '.' && !param) {
			*p = '\0';
			param = p + 1;
		} else if (c == '=' && !param)
			is_module = false;
	}
	return r;
}

void modprobe_free(struct modprobe *m)
{
	if (!m)
		return;
	index_close(&m->dep);
	index_close(&m->builtin);
	index_close(&m->alias);
	index_close(&m->builtin_alias);
	for (size_t i = 0; i < m->n_conf; i++) {
		free(m->conf[i].name);
		free(m->conf[i].rest);
	}
	free(m->conf);
	for (size_t i = 0; i < m->n_mods; i++)
		free(m->mods[i].name);
	free(m->mods);
	free(m->moddir);
	free(m);
}

int modprobe_new(struct modprobe **ret, const char *moddir, const char *const *confdirs, const char *cmdline)
{
	struct modprobe *m = calloc(1, sizeof(*m));
	int r;

	*ret = NULL;
	if (!m || !(m->moddir = strdup(moddir))) {
		free(m);
		return -ENOMEM;
	}
	r = index_open(&m->dep, moddir, "modules.dep.bin", true);
	if (r >= 0)
		r = index_open(&m->builtin, moddir, "modules.builtin.bin", false);
	if (r >= 0)
		r = index_open(&m->alias, moddir, "modules.alias.bin", false);
	if (r >= 0)
		r = index_open(&m->builtin_alias, moddir, "modules.builtin.alias.bin", false);
	if (r >= 0)
		r = conf_read(m, confdirs);
	if (r >= 0 && cmdline)
		r = parse_cmdline(m, cmdline);
	if (r < 0) {
		modprobe_free(m);
		return r;
	}
	*ret = m;
	return 0;
}

static struct mod *mod_get(struct modprobe *m, const char *name)
{
	struct mod *nv;

	for (size_t i = 0; i < m->n_mods; i++)
		if (streq(m->mods[i].name, name))
			return &m->mods[i];
	if (!(nv = realloc(m->mods, (m->n_mods + 1) * sizeof(*nv))))
		return NULL;
	m->mods = nv;
	nv[m->n_mods] = (struct mod){ .name = strdup(name) };
	if (!nv[m->n_mods].name)
		return NULL;
	return &nv[m->n_mods++];
}

/* The first line of KIND whose pattern matches NAME (install, softdep), or NULL. */
static const struct conf *conf_match(const struct modprobe *m, enum conf_kind kind, const char *name)
{
	for (size_t i = 0; i < m->n_conf; i++)
		if (m->conf[i].kind == kind && fnmatch(m->conf[i].name, name, 0) == 0)
			return &m->conf[i];
	return NULL;
}

struct walk {
	struct modprobe *m;
	struct modprobe_step *steps;
	size_t n;
	unsigned depth;
};

/* A module file's absolute path, from a modules.dep entry (relative to the modules' directory). */
static char *mod_path(const struct modprobe *m, const char *p, size_t len)
{
	char *r;

	if ((p[0] == '/' ? asprintf(&r, "%.*s", (int)len, p)
			 : asprintf(&r, "%s/%.*s", m->moddir, (int)len, p)) < 0)
		return NULL;
	return r;
}

/* Appends NAME, with PATH (taken; NULL: built in), its options and no install command. */
static int step_add(struct walk *w, const char *name, char *path)
{
	struct modprobe *m = w->m;
	struct modprobe_step *s;
	char *opts = NULL;
	size_t olen = 0;

	if (w->n >= MAX_STEPS || conf_match(m, C_INSTALL, name)) {
		free(path); /* an install command: libkmod runs it */
		return -EOPNOTSUPP;
	}
	for (size_t i = 0; i < m->n_conf; i++) {
		const struct conf *c = &m->conf[i];
		size_t l;
		char *no;
		if (c->kind != C_OPTIONS || !streq(c->name, name) || !(l = strlen(c->rest)))
			continue;
		if (!(no = realloc(opts, olen + l + 2))) {
			free(opts);
			free(path);
			return -ENOMEM;
		}
		opts = no;
		if (olen)
			opts[olen++] = ' ';
		memcpy(opts + olen, c->rest, l + 1);
		olen += l;
	}
	if (!(s = realloc(w->steps, (w->n + 1) * sizeof(*s)))) {
		free(opts);
		free(path);
		return -ENOMEM;
	}
	w->steps = s;
	s = &s[w->n];
	*s = (struct modprobe_step){ .options = opts, .path = path, .name = strdup(name) };
	w->n++;
	return s->name ? 0 : -ENOMEM;
}

static int probe_list(struct walk *w, const char *name, const char *line, bool required);

/*
 * A name, looked up as libkmod looks up any name: 1 and its dependency line for a module, 2
 * for a built-in one, 0 when nothing has that name; -EOPNOTSUPP when it may be an alias, a
 * symbol or an install command's.
 */
static int lookup(struct modprobe *m, const char *given, char *name, size_t size, const char **line)
{
	int r;

	*line = NULL;
	if (strlen(given) >= size || strpbrk(given, "*?[]") || strncmp(given, "symbol:", 7) == 0)
		return -EOPNOTSUPP;
	strcpy(name, given);
	underscores(name);
	for (size_t i = 0; i < m->n_conf; i++)
		if (m->conf[i].kind == C_ALIAS && fnmatch(m->conf[i].name, name, 0) == 0)
			return -EOPNOTSUPP;
	if ((r = index_get(&m->dep, name, line)) != 0)
		return r;
	if (conf_match(m, C_INSTALL, name) || conf_match(m, C_REMOVE, name))
		return -EOPNOTSUPP;
	if ((r = index_may_match(&m->alias, name)) != 0)
		return r < 0 ? r : -EOPNOTSUPP;
	if ((r = index_get(&m->builtin, name, line)) != 0) {
		*line = NULL;
		return r < 0 ? r : 2;
	}
	if ((r = index_may_match(&m->builtin_alias, name)) != 0)
		return r < 0 ? r : -EOPNOTSUPP;
	return 0;
}

/* libkmod's __kmod_module_fill_softdep(): the "pre:" modules, the module, the "post:" ones. */
static int fill_softdep(struct walk *w, const char *name, char *path)
{
	const struct conf *sd = conf_match(w->m, C_SOFTDEP, name);
	int r = 0;

	if (++w->depth > MAX_DEPTH) {
		free(path);
		return -EOPNOTSUPP;
	}
	for (int pass = 0; r >= 0 && pass < 3; pass++) {
		enum { NONE, PRE, POST } mode = NONE;
		char *save = NULL, *tok, *list;
		if (pass == 1) {
			r = step_add(w, name, TAKE_PTR(path));
			continue;
		}
		if (!sd)
			continue;
		if (!(list = strdup(sd->rest))) {
			r = -ENOMEM;
			break;
		}
		for (tok = strtok_r(list, " \t\n\v\f\r", &save); r >= 0 && tok;
		     tok = strtok_r(NULL, " \t\n\v\f\r", &save)) {
			char dn[NAME_MAX];
			const char *dl;
			if (streq(tok, "pre:") || streq(tok, "post:")) {
				mode = tok[1] == 'r' ? PRE : POST;
				continue;
			}
			if (mode != (pass == 0 ? PRE : POST))
				continue;
			r = lookup(w->m, tok, dn, sizeof(dn), &dl);
			if (r > 0) /* a module, or a built-in one (dl NULL) */
				r = probe_list(w, dn, dl, false);
		}
		free(list);
	}
	free(path);
	w->depth--;
	return r;
}

struct dep {
	char *name, *path;
};

static void deps_free(struct dep *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].path);
	}
	free(v);
}

/* The dependencies on a modules.dep LINE, in the order libkmod loads them (from the end). */
static int line_deps(const struct modprobe *m, const char *line, struct dep **ret, size_t *ret_n)
{
	const char *p = strchr(line, ':');
	struct dep *v = NULL, *nv;
	size_t n = 0;

	*ret = NULL;
	*ret_n = 0;
	if (!p)
		return -EOPNOTSUPP;
	for (p++;;) {
		size_t l;
		p += strspn(p, " \t");
		if (!*p)
			break;
		l = strcspn(p, " \t");
		if (!(nv = realloc(v, (n + 1) * sizeof(*v)))) {
			deps_free(v, n);
			return -ENOMEM;
		}
		v = nv;
		v[n].name = path_to_name(p, l);
		v[n].path = mod_path(m, p, l);
		if (!v[n].name || !v[n].path) {
			deps_free(v, n + 1);
			return -ENOMEM;
		}
		n++;
		p += l;
	}
	for (size_t i = 0; i < n / 2; i++) {
		struct dep t = v[i];
		v[i] = v[n - 1 - i];
		v[n - 1 - i] = t;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* libkmod's __kmod_module_get_probe_list(): LINE is NAME's modules.dep entry, NULL if built in. */
static int probe_list(struct walk *w, const char *name, const char *line, bool required)
{
	struct mod *mod = mod_get(w->m, name);
	struct dep *deps = NULL;
	size_t n_deps = 0;
	char *path = NULL;
	int r = 0;

	if (!mod)
		return -ENOMEM;
	if (mod->visited)
		return 0;
	mod->visited = true;
	if (line && ((r = line_deps(w->m, line, &deps, &n_deps)) < 0 ||
		     !(path = mod_path(w->m, line, strcspn(line, ":")))))
		return r < 0 ? r : -ENOMEM;
	if (required) {
		mod->required = true;
		for (size_t i = 0; r >= 0 && i < n_deps; i++) {
			struct mod *d = mod_get(w->m, deps[i].name);
			if (!d)
				r = -ENOMEM;
			else
				d->required = true;
		}
	}
	for (size_t i = 0; r >= 0 && i < n_deps; i++)
		r = fill_softdep(w, deps[i].name, TAKE_PTR(deps[i].path));
	deps_free(deps, n_deps);
	if (r < 0) {
		free(path);
		return r;
	}
	return fill_softdep(w, name, path);
}

void modprobe_steps_free(struct modprobe_step *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(s[i].name);
		free(s[i].path);
		free(s[i].options);
	}
	free(s);
}

/* The name asked for, normalized, and its dependency line; -EOPNOTSUPP unless a module. */
static int target(struct modprobe *m, const char *given, char *name, size_t size, const char **line)
{
	int r = lookup(m, given, name, size, line);

	return r == 1 ? 0 : r < 0 ? r : -EOPNOTSUPP;
}

int modprobe_steps(struct modprobe *m, const char *given, struct modprobe_step **ret, size_t *ret_n)
{
	struct walk w = { .m = m };
	char name[NAME_MAX];
	const char *line;
	int r;

	*ret = NULL;
	*ret_n = 0;
	if ((r = target(m, given, name, sizeof(name), &line)) < 0)
		return r;
	for (size_t i = 0; i < m->n_conf; i++)
		if (m->conf[i].kind == C_BLACKLIST && streq(m->conf[i].name, name))
			return -EPERM;
	for (size_t i = 0; i < m->n_mods; i++)
		m->mods[i].visited = m->mods[i].required = false;
	r = probe_list(&w, name, line, true);
	for (size_t i = 0; r >= 0 && i < w.n; i++) {
		struct mod *mod = mod_get(m, w.steps[i].name);
		if (!mod)
			r = -ENOMEM;
		else
			w.steps[i].required = mod->required;
	}
	if (r < 0) {
		modprobe_steps_free(w.steps, w.n);
		return r;
	}
	*ret = w.steps;
	*ret_n = w.n;
	return 0;
}

int modprobe_deps(struct modprobe *m, const char *given, char ***ret, size_t *ret_n)
{
	char name[NAME_MAX], **v;
	struct dep *deps;
	const char *line;
	size_t n;
	int r;

	*ret = NULL;
	*ret_n = 0;
	if ((r = target(m, given, name, sizeof(name), &line)) < 0 || (r = line_deps(m, line, &deps, &n)) < 0)
		return r;
	if (!(v = calloc(n + 1, sizeof(*v)))) {
		deps_free(deps, n);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		v[i] = TAKE_PTR(deps[i].name);
		free(deps[i].path);
	}
	free(deps);
	*ret = v;
	*ret_n = n;
	return 0;
}

bool modprobe_kernel_reads(const char *path, const char *kernel_compression, unsigned *flags)
{
	static const struct {
		const char *suffix, *kernel;
	} z[] = { { ".ko.gz", "gzip" }, { ".ko.xz", "xz" }, { ".ko.zst", "zstd" } };
	size_t l = strlen(path);

	*flags = 0;
	if (l > 3 && streq(path + l - 3, ".ko"))
		return true;
	for (size_t i = 0; i < ELEMENTSOF(z); i++) {
		size_t sl = strlen(z[i].suffix);
		if (l > sl && streq(path + l - sl, z[i].suffix) && kernel_compression &&
		    streq(kernel_compression, z[i].kernel)) {
			*flags = 4; /* MODULE_INIT_COMPRESSED_FILE */
			return true;
		}
	}
	return false;
}
