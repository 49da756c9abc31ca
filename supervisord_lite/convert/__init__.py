"""`supervisord-lite convert`: a Supervisor INI read as supervisord reads it
(supervisor_ini, ini_programs, ini_lookup, ini_parser, supervisor_datatypes), its
sections mapped onto our keys (converter: main, convert; conversion, supervisord_table,
program_tables, program_warnings, listeners; names, templates; superlance's mailers,
httpok and memmon with superlance_args), written as TOML (toml_writer). A separate tool: the daemon
never loads it.

May import: config, base.
"""
