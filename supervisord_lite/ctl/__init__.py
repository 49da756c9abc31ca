"""`supervisorctl-lite`, the client: main (main), the command line (parse), the
connection (client), each command's request and output (commands), the shell (shell),
completion (completion), many hosts over ssh (hosts, hosts_output, transport).

May import: base only: never the config module, never the daemon. Its start-up time is
a feature, so this file imports nothing and main imports the shell, completion and -H
only when asked for.
"""
