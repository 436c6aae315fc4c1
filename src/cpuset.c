/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpuset.h"

bool cpuset_has(const struct cpuset *set, unsigned cpu)
{
	return cpu < CPUSET_MAX && (set->bits[cpu / 64] >> (cpu % 64)) & 1;
}

void cpuset_set(struct cpuset *set, unsigned cpu)
{
	if (cpu < CPUSET_MAX)
		set->bits[cpu / 64] |= 1ull << (cpu % 64);
}

static void cpuset_clear(struct cpuset *set, unsigned cpu)
{
	if (cpu < CPUSET_MAX)
		set->bits[cpu / 64] &= ~(1ull << (cpu % 64));
}

static int number(const char **p, unsigned *ret)
{
	unsigned long v;
	char *end;

	if (!isdigit((unsigned char)**p))
		return -EINVAL;
	v = strtoul(*p, &end, 10);
	if (v >= CPUSET_MAX)
		return -EINVAL;
	*p = end;
	*ret = (unsigned)v;
	return 0;
}

int cpuset_add_str(struct cpuset *set, const char *s)
{
	struct cpuset excl = { { 0 } };
	const char *p = s;

	while (*p) {
		bool neg = false;
		unsigned a, b;

		while (*p == ' ')
			p++;
		if (!*p)
			break;
		if (*p == '^') {
			neg = true;
			p++;
		}
		if (number(&p, &a) < 0)
			return -EINVAL;
		b = a;
		if (*p == '-') {
			p++;
			if (number(&p, &b) < 0 || b < a)
				return -EINVAL;
		}
		for (unsigned c = a; c <= b; c++)
			cpuset_set(neg ? &excl : set, c);
		while (*p == ' ' || *p == '\n')
			p++;
		if (*p == ',') {
			p++;
			if (!*p)
				return -EINVAL; /* "1," */
		} else if (*p)
			return -EINVAL;
	}
	for (unsigned c = 0; c < CPUSET_MAX; c++)
		if (cpuset_has(&excl, c))
			cpuset_clear(set, c);
	return 0;
}

int cpuset_parse(const char *s, struct cpuset *ret)
{
	struct cpuset set = { { 0 } };
	int r = cpuset_add_str(&set, s);

	if (r < 0)
		return r;
	*ret = set;
	return 0;
}

void cpuset_format(const struct cpuset *set, char *buf, size_t size)
{
	size_t o = 0;

	buf[0] = '\0';
	for (unsigned c = 0; c < CPUSET_MAX; c++) {
		unsigned e = c;
		int n;
		if (!cpuset_has(set, c))
			continue;
		while (e + 1 < CPUSET_MAX && cpuset_has(set, e + 1))
			e++;
		n = e == c ? snprintf(buf + o, size - o, "%s%u", o ? "," : "", c)
			   : snprintf(buf + o, size - o, "%s%u-%u", o ? "," : "", c, e);
		if (n < 0 || (size_t)n >= size - o) {
			/* never a cut number that names another CPU: end at the last whole item */
			buf[o] = '\0';
			if (o + 4 < size)
				strcpy(buf + o, ",...");
			return;
		}
		o += (size_t)n;
		c = e;
	}
}

bool cpuset_empty(const struct cpuset *set)
{
	for (size_t i = 0; i < CPUSET_MAX / 64; i++)
		if (set->bits[i])
			return false;
	return true;
}

bool cpuset_intersects(const struct cpuset *a, const struct cpuset *b)
{
	for (size_t i = 0; i < CPUSET_MAX / 64; i++)
		if (a->bits[i] & b->bits[i])
			return true;
	return false;
}

unsigned cpuset_count(const struct cpuset *set)
{
	unsigned n = 0;

	for (size_t i = 0; i < CPUSET_MAX / 64; i++)
		n += (unsigned)__builtin_popcountll(set->bits[i]);
	return n;
}
