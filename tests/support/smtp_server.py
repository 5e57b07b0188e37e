#!/usr/bin/env python3
"""A real SMTP server for liandong's tests (aiosmtpd), storing every accepted message as a file in
a Maildir (DIR/new/). It can misbehave on purpose:

  --refuse-first N   answer the first N DATA commands with 451 (a transient refusal)
  --reject TEXT      answer RCPT TO addresses containing TEXT with 550 (a permanent refusal)
  --hold-first-data MODE
                     never answer the first DATA command, and create DIR/held when it comes:
                     "unsent" stores nothing, "accepted" stores the message first (the client
                     that is killed while it waits has had its message accepted but never
                     heard so) — for tests that kill a sender mid-delivery
  --tls MODE         "implicit" (TLS from the first byte) or "starttls" (required), with
                     --cert and --key (PEM)
  --auth-reject-echo offer AUTH (PLAIN, LOGIN) without TLS and reject every attempt with a 535
                     that quotes the user and password it was given, as they came and in base64
                     — for tests that the client keeps them out of its logs and store

It prints "listening PORT" once it accepts connections, and runs until killed.
"""
import argparse
import asyncio
import base64
import mailbox
import os
import signal
import ssl
import sys

from aiosmtpd.controller import Controller


class Handler:
    def __init__(self, directory, refuse_first, reject, hold_first_data=None):
        self.directory = directory
        self.hold_first_data = hold_first_data
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(directory, sub), exist_ok=True)
        self.box = mailbox.Maildir(directory, create=False)
        self.refuse_first = refuse_first
        self.reject = reject
        self.data_commands = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reject and self.reject in address:
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.data_commands += 1
        if self.hold_first_data and self.data_commands == 1:
            if self.hold_first_data == "accepted":
                self.box.add(envelope.original_content or envelope.content)
            open(os.path.join(self.directory, "held"), "w").close()
            while True:
                await asyncio.sleep(3600)
        if self.data_commands <= self.refuse_first:
            return "451 4.3.0 try again later"
        self.box.add(envelope.original_content or envelope.content)
        return "250 2.0.0 OK queued as %d" % self.data_commands


def reject_echoing(server, session, envelope, mechanism, auth_data):
    from aiosmtpd.smtp import AuthResult

    login = auth_data.login.decode("utf-8", "replace")
    password = auth_data.password.decode("utf-8", "replace")
    plain = base64.b64encode(b"\0" + auth_data.login + b"\0" + auth_data.password).decode()
    return AuthResult(
        success=False,
        handled=False,
        message="535 5.7.8 %s rejected: user %s password %s (%s)"
        % (mechanism, login, password, plain),
    )


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--refuse-first", type=int, default=0)
    p.add_argument("--reject", default="")
    p.add_argument("--hold-first-data", choices=["unsent", "accepted"])
    p.add_argument("--tls", choices=["implicit", "starttls"])
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--auth-reject-echo", action="store_true")
    a = p.parse_args()
    handler = Handler(a.dir, a.refuse_first, a.reject, a.hold_first_data)
    kwargs = {}
    if a.tls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.cert, a.key)
        if a.tls == "implicit":
            kwargs = {"ssl_context": ctx}
        else:
            kwargs = {"tls_context": ctx, "require_starttls": True}
    if a.auth_reject_echo:
        kwargs.update(authenticator=reject_echoing, auth_require_tls=False)
    c = Controller(handler, hostname="127.0.0.1", port=a.port, **kwargs)
    c.start()
    print("listening %d" % a.port, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: (c.stop(), sys.exit(0)))
    signal.pause()


if __name__ == "__main__":
    main()
