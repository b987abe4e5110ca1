"""A QEMU board standing in for a real one in the real-board audit's tests: the rig's
``load_bank`` command starts it (a HIL image, the bank preloaded, halted, its UART0 on a
TCP server and its gdbstub on a port) and returns once it listens, as a flasher would
leave a board waiting for its debugger.

    python tests/qemu_board.py --elf hil.elf --bank bank.pkfb --serial 4321 --gdb 3333
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from host_tools import emulator


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--elf", required=True)
    p.add_argument("--bank", required=True)
    p.add_argument("--board", default="an386")
    p.add_argument("--serial", type=int, required=True)
    p.add_argument("--gdb", type=int, required=True)
    args = p.parse_args()
    b = emulator.board_info(args.board)
    cmd = [emulator.QEMU, "-machine", b.machine, "-cpu", b.cpu, "-nographic", "-monitor", "none",
           "-kernel", args.elf, "-semihosting-config", "enable=on,target=native",
           "-icount", "shift=0,align=off,sleep=off",
           "-device", f"loader,file={args.bank},addr={b.bank_addr:#x},force-raw=on",
           "-serial", f"tcp:127.0.0.1:{args.serial},server=on,wait=off",
           "-gdb", f"tcp:127.0.0.1:{args.gdb}", "-S"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print(f"QEMU exited with {proc.returncode}", file=sys.stderr)
            return 1
        try:
            with socket.create_connection(("127.0.0.1", args.gdb), timeout=0.2):
                pass  # the gdbstub takes the next connection again
            print(proc.pid)
            return 0
        except OSError:
            time.sleep(0.05)
    proc.kill()
    print("QEMU did not listen within 10 s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
