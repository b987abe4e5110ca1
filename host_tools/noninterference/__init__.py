"""Noninterference audit: run the shipped image twice on frames that differ in pixels and
require everything an observer can see -- every byte on every UART, when each byte
leaves, all writable memory after every frame -- to be identical between the runs, and
every decision to equal the reference decision."""
