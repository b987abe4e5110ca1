/*
 * HIL builds on the host: the serial receive side is the file named by argv[2] (host
 * command bytes, docs/PROTOCOL.md), read one byte per call; without it nothing is ever
 * received. A file makes command tests deterministic: everything is there at the start.
 */
#include <stdio.h>

#include "pk_hal.h"
#include "port_host.h"

int pk_hal_serial_read_byte(void)
{
    static FILE *f;
    static int opened;

    if (!opened) {
        opened = 1;
        f = pk_host_arg2 != NULL ? fopen(pk_host_arg2, "rb") : NULL;
    }
    if (f == NULL) {
        return -1;
    }
    const int c = fgetc(f);
    return c == EOF ? -1 : c;
}
