/*
 * Native port for debugging and fast tests: the serial link is stdout (binary), exit is
 * exit(). No instruction counter (the weak default reports 0, as PROTOCOL.md expects).
 */
#include <stdio.h>
#include <stdlib.h>

#include "pk_hal.h"
#include "port_host.h"

const char *pk_host_arg1;
const char *pk_host_arg2;

int pk_hal_init(int argc, char **argv)
{
    pk_host_arg1 = argc > 1 ? argv[1] : NULL;
    pk_host_arg2 = argc > 2 ? argv[2] : NULL;
    return PK_HAL_OK;
}

void pk_hal_serial_write(const uint8_t *data, size_t len)
{
    /* Flushed at once so a reader of a pipe sees records as they are made. */
    fwrite(data, 1, len, stdout);
    fflush(stdout);
}

const char *pk_hal_board_name(void)
{
    return "host";
}

void pk_hal_exit(int status)
{
    fflush(stdout);
    exit(status);
}
