#!/usr/bin/env python3
"""Set-up of scripts/bench-notify.sh.

  bench-notify-setup.py config  OUT.toml DB N SMTP_PORT   the configuration: N units, one contact each
  bench-notify-setup.py seed    DB N                      N overdue findings, one per unit, into a
                                                          migrated store (untimed set-up)
  bench-notify-setup.py peer    DB SMTP_PORT              the peer: send the outbox's queued e-mails
                                                          with smtplib over one connection
"""
import smtplib
import sqlite3
import sys
from email.message import EmailMessage
from email.headerregistry import Address


def config(out, db, n, port):
    with open(out, "w", encoding="utf-8") as f:
        f.write(f'[store]\nurl = "sqlite://{db}"\n')
        for i in range(n):
            f.write(
                f'\n[[units]]\nid = "u{i}"\nname = "测试执法单位{i}"\n'
                f'contacts = [{{ name = "联络员{i}", role = "contact", email = "u{i}@example.gov.cn" }}]\n'
            )
        f.write(
            '\n[notify]\nconcurrency = 4\n'
            '[notify.stages.meeting]\nenabled = false\n[notify.stages.training]\nenabled = false\n'
            f'[notify.email]\ntransport = "smtp"\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
            'from = "稻城县府检联动办公室 <fjld@example.gov.cn>"\ntimeout_secs = 30\n'
        )


def seed(db, n):
    c = sqlite3.connect(db)
    rows = []
    for i in range(n):
        no = f"稻测罚〔2025〕{i}号"
        # Due at the end of 2025-10-11 (Asia/Shanghai): overdue by one day on 10-13, not escalated.
        rows.append((f"R1|u{i}|{no}", "R1", f"u{i}", no, no, "2025-10-11T16:00:00+00:00", 0, "overdue",
                     '{"match":"none"}', "2025-10-12T00:00:00+00:00", "2025-10-12T00:00:00+00:00"))
    c.executemany(
        "INSERT INTO findings (key, rule, unit_id, case_key, case_no, due, violated, state, facts, "
        "first_seen_at, changed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    c.commit()


def peer(db, port):
    c = sqlite3.connect(db)
    rows = c.execute("SELECT address, recipient, subject, body, payload FROM outbox "
                     "WHERE channel = 'email' ORDER BY id").fetchall()
    sent = 0
    with smtplib.SMTP("127.0.0.1", port) as s:
        for address, recipient, subject, body, payload in rows:
            m = EmailMessage()
            m["From"] = Address("稻城县府检联动办公室", addr_spec="fjld@example.gov.cn")
            m["To"] = Address(recipient.split("（")[0], addr_spec=address)
            m["Subject"] = subject
            m.set_content(body)
            if payload:
                m.add_alternative(payload, subtype="html")
            s.send_message(m)
            sent += 1
    print(f"sent {sent}")


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "config":
        config(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif what == "seed":
        seed(sys.argv[2], int(sys.argv[3]))
    elif what == "peer":
        peer(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__)
