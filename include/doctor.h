/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "cli.h"

/*
 * `vfiohook doctor VM [--xml FILE] [--json]`: the passthrough tutorials' advice, checked. Reads
 * the domain XML (read-only from libvirtd, or FILE), kvm.conf and the host, and prints one
 * finding per line: severity (error, warning, hint), a stable id, what is wrong, why, and the
 * exact XML or kvm.conf change that fixes it; --json prints them as an array of
 * {severity, id, message, why, fix}. Changes nothing. Exit status 1 when there is an error,
 * 0 otherwise, 2 when the domain XML or kvm.conf cannot be read.
 */
int cmd_doctor(const struct options *o);
