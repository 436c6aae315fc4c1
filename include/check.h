/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "config.h"

/* Prints one line per finding about the host for the VMs of c; returns the number of errors. */
unsigned check_host(const struct conf *c);
