/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * systemd over D-Bus (sd-bus, opened on demand): the system bus, or systemd's private socket
 * when no bus daemon runs (early boot, rescue, a broken dbus). Under --root the sockets are
 * looked for below the root.
 */
struct sd_bus;

int bus_connect(struct sd_bus **ret);
/* The systemd manager of user uid (/run/user/UID/systemd/private). */
int bus_connect_user(unsigned uid, struct sd_bus **ret);
void bus_close(struct sd_bus *bus);

/* ActiveState ("active", "inactive", ...) and, when id is not NULL, the unit's real name
 * (an alias's target); -ENOENT when no such unit exists. */
int bus_unit_state(struct sd_bus *bus, const char *unit, char *ret, size_t size, char *id, size_t id_size);
/* Runs StopUnit/StartUnit ("replace") and waits for the job's JobRemoved; 0 iff "done";
 * -ECANCELED when systemd refused the call itself (no job was made, nothing changed). */
int bus_unit_job(struct sd_bus *bus, const char *method, const char *unit, double timeout,
		 char *result, size_t size);
/* Manager.SystemState ("running", "stopping", ...). */
int bus_system_state(struct sd_bus *bus, char *ret, size_t size);
/* AllowedCPUs of a slice or scope as a CPU list ("" when not set). */
int bus_get_allowed_cpus(struct sd_bus *bus, const char *unit, char *ret, size_t size);
/* SetUnitProperties(unit, runtime=true, AllowedCPUs=cpus); "" resets it. */
int bus_set_allowed_cpus(struct sd_bus *bus, const char *unit, const char *cpus);
/* The last bus error's message, for logs. */
const char *bus_last_error(void);
