/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The baseline: a dynamically linked C program that reads its stdin and exits. */
#include <unistd.h>

int main(void)
{
	char buf[65536];

	while (read(0, buf, sizeof(buf)) > 0)
		;
	return 0;
}
