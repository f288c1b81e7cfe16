#!/usr/bin/python3
"""Runs a command on a fresh pseudo-terminal and drives it like a person at a keyboard.

    pty-run.py [--timeout S] [--expect TEXT] [--send LINE] [--keys KEYS]... -- COMMAND ARGS...

Each --expect waits (up to the timeout) until TEXT has appeared in the output since the previous
expectation; each --send types LINE plus a newline; --keys types KEYS as they are, with ^X for a control
key (--keys '^P^Q'). Steps run in the order given. At the end it
waits for the command to exit, prints everything the terminal showed on stdout, and exits with the
command's exit status (124 on timeout, with what was seen so far).
"""
import os
import pty
import select
import sys
import time


def main(argv):
    timeout = 20.0
    steps = []
    i = 0
    while i < len(argv) and argv[i] != "--":
        opt = argv[i]
        if opt == "--timeout":
            timeout = float(argv[i + 1])
        elif opt == "--expect":
            steps.append(("expect", argv[i + 1]))
        elif opt == "--send":
            steps.append(("send", argv[i + 1]))
        elif opt == "--keys":
            steps.append(("keys", argv[i + 1]))
        else:
            sys.exit(f"pty-run: unknown option {opt}")
        i += 2
    cmd = argv[i + 1:]
    if not cmd:
        sys.exit("pty-run: no command")

    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)

    seen = bytearray()
    mark = 0
    deadline = time.monotonic() + timeout

    def pump(wait):
        r, _, _ = select.select([fd], [], [], wait)
        if not r:
            return True
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO: the other side closed
            return False
        if not data:
            return False
        seen.extend(data)
        return True

    def fail():
        sys.stdout.write(seen.decode(errors="replace"))
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except OSError:
            pass
        sys.exit(124)

    for kind, text in steps:
        if kind == "send":
            os.write(fd, text.encode() + b"\r")
            continue
        if kind == "keys":
            keys, j = bytearray(), 0
            while j < len(text):
                if text[j] == "^" and j + 1 < len(text):
                    keys.append(ord(text[j + 1].upper()) & 0x1F)
                    j += 2
                else:
                    keys.extend(text[j].encode())
                    j += 1
            os.write(fd, bytes(keys))
            continue
        want = text.encode()
        while seen.find(want, mark) < 0:
            left = deadline - time.monotonic()
            if left <= 0 or not pump(min(left, 0.2)):
                if seen.find(want, mark) >= 0:
                    break
                sys.stderr.write(f"pty-run: did not see {text!r}\n")
                fail()
        mark = seen.find(want, mark) + len(want)

    status = None
    while status is None:
        if time.monotonic() >= deadline:
            sys.stderr.write("pty-run: command did not exit\n")
            fail()
        alive = pump(0.2)
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
        elif not alive:
            status = os.waitpid(pid, 0)[1]
    while pump(0.05):
        pass
    sys.stdout.write(seen.decode(errors="replace"))
    sys.exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))

if __name__ == "__main__":
    main(sys.argv[1:])
