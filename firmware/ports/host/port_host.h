/* State shared between the host port's files. */
#ifndef PK_PORT_HOST_H
#define PK_PORT_HOST_H

/* argv[1] as given to pk_hal_init (the frame bank file in HIL builds), or NULL. */
extern const char *pk_host_arg1;
/* argv[2]: in HIL builds, a file of host-to-device command bytes, or NULL. */
extern const char *pk_host_arg2;

#endif /* PK_PORT_HOST_H */
