"""superlance's mail listeners (crashmail, crashmailbatch, fatalmailbatch) as [alerts].

Each becomes the kinds it reported (crashmail and crashmailbatch: `crashed`, what
their PROCESS_STATE_EXITED with expected=0 is; fatalmailbatch: `fatal`) and an `exec`
that mails the batch through sendmail, so the same people keep getting mail. What the
built-in cannot say the same way is returned as notes for convert's warnings.
"""

from __future__ import annotations

import shlex

from supervisord_lite.convert.superlance_args import options

KINDS = {"crashmail": "crashed", "crashmailbatch": "crashed", "fatalmailbatch": "fatal"}
SENDMAIL = "/usr/sbin/sendmail -t -i"  # crashmail's default -s


class Mailer:
    """What one listener's command line asks for."""

    def __init__(self, name: str):
        self.name = name
        self.kind = KINDS.get(name)
        self.to: str | None = None
        self.sender: str | None = None
        self.subject = "supervisord-lite alert"
        self.sendmail = SENDMAIL
        self.batch: float | None = None  # seconds (the batch listeners' --interval)
        self.notes: list[str] = []


def read_mailer(name: str, argv: list[str]) -> Mailer:
    """The options of `crashmail -m x -p prog ...` or `crashmailbatch --toEmail=x ...`."""
    mailer = Mailer(name)
    for option, value in options(argv, _TAKES_VALUE):
        if option in ("-m", "--email", "--toEmail", "-t"):
            mailer.to = value
        elif option in ("--fromEmail", "-f"):
            mailer.sender = value
        elif option in ("--subject",):
            mailer.subject = value
        elif option in ("-o", "--optionalheader"):
            mailer.subject = f"{value} {mailer.subject}"
        elif option in ("-s", "--sendmail_program"):
            mailer.sendmail = value
        elif option in ("--interval", "-i") and name != "crashmail":
            try:
                mailer.batch = float(value) * 60  # minutes in superlance
            except ValueError:
                mailer.notes.append(f"{option} {value!r} is not a number of minutes: ignored")
        elif option in ("-p", "--program"):
            mailer.notes.append(
                f"{option} {value}: [alerts] covers every program, not only {value}"
            )
        elif option in ("--smtpHost", "--userName", "--password", "--tls"):
            mailer.notes.append(f"{option}: mail goes through the local sendmail instead")
        elif option in ("-a", "--any"):
            pass  # every program: what [alerts] does anyway
    if mailer.to is None:
        mailer.notes.append("no recipient (-m / --toEmail) given: no mail is sent")
    return mailer


_TAKES_VALUE = {
    "-m", "--email", "--toEmail", "-t", "--fromEmail", "-f", "--subject", "-o",
    "--optionalheader", "-s", "--sendmail_program", "--interval", "-i", "-p", "--program",
    "--smtpHost", "--userName", "--password",
}  # fmt: skip


def exec_argv(mailer: Mailer) -> list[str]:
    """A command that mails its stdin (the batch, as JSON) to the recipient."""
    headers = f"To: {mailer.to}\\nSubject: {mailer.subject}\\n"
    if mailer.sender:
        headers = f"From: {mailer.sender}\\n" + headers
    # %b: the escapes (\n) are read, while a % in the subject stays a %.
    script = f"{{ printf %b {shlex.quote(headers + chr(92) + 'n')}; cat; }} | {mailer.sendmail}"
    return ["sh", "-c", script]


def alerts_table(mailers: list[Mailer]) -> tuple[dict | None, dict[str, list[str]]]:
    """One [alerts] table for every mail listener, and for each listener (by name) the
    notes on what the table does not carry of it."""
    notes = {m.name: list(m.notes) for m in mailers}
    usable = [m for m in mailers if m.to is not None and m.kind is not None]
    if not usable:
        return None, notes
    first = usable[0]
    for mailer in usable:
        notes[mailer.name].insert(
            0,
            f"now [alerts] on {mailer.kind!r}; the mail body is the batch as JSON (its "
            '"text" field is the summary)',
        )
        if exec_argv(mailer) != exec_argv(first):
            notes[mailer.name].append(
                f"[alerts] has one exec, so these alerts now go to {first.to}, not "
                f"{mailer.to}; add that address to its command if both need them"
            )
    table: dict = {"on": sorted({m.kind for m in usable}, key=list(KINDS.values()).index)}
    table["exec"] = exec_argv(first)
    # crashmail mails each event at once: the batch is the shortest any of them asked.
    table["batch"] = min(m.batch if m.batch is not None else 0.0 for m in usable)
    return table, notes
