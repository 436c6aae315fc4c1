/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Text from outside (VM names, paths from the XML, file contents) on its way out. */

#include <stddef.h>
#include <stdint.h>

/*
 * The length (1-4) of the well-formed UTF-8 sequence at s, before end, and its code point in
 * *cp; 0 when it is not one (a stray byte, an overlong form, a surrogate, beyond U+10FFFF).
 */
size_t utf8_decode(const unsigned char *s, const unsigned char *end, uint32_t *cp);

/* On stdout for a terminal: a control byte must not drive it (\xNN instead). */
void put_text(const char *s);

/* On stdout as a JSON string; what is not UTF-8 becomes U+FFFD. */
void put_json_str(const char *s);
