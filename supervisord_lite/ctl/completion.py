"""`supervisorctl-lite completion bash|zsh`: shell completion scripts, and the tables of
commands and options the interactive shell completes from too.

Names are asked of the daemon when a completion needs them, with the hidden command
`_names` (one name a line: processes, programs, groups as GROUP:*, all), run with the
same -c/-s as the command line being completed.
"""

from __future__ import annotations

# Each command's options, for completion (argparse in parse.py is the truth: a test keeps
# the two in step).
OPTIONS = {
    "status": ["--json"],
    "start": ["--json"],
    "stop": ["--json"],
    "restart": ["--json", "--rolling"],
    "signal": ["--json"],
    "pid": ["--json"],
    "tail": ["-f", "-n", "--json"],
    "reload": ["--dry-run", "--json"],
    "events": ["--json"],
    "shutdown": ["--json"],
    "reexec": ["--json"],
    "version": ["--json"],
    "metrics": ["--json"],
    "avail": ["--json"],
    "clear": ["--json"],
    "maintail": ["-f", "-n", "--json"],
    "scale": ["--json"],
    "reread": ["--json"],
    "update": ["--json"],
    "add": ["--json"],
    "remove": ["--json"],
    "fg": ["--json"],
    "top": ["--sort", "--filter", "--interval", "--json"],
    "completion": [],
}
COMMAND_NAMES = list(OPTIONS)
GLOBAL_OPTIONS = ["-c", "--configuration", "-s", "--socket", "--json", "--help"]
# Commands whose every positional is a NAME, and the ones taking one NAME first.
NAME_COMMANDS = ("status", "start", "stop", "restart", "clear")
SIGNALS = ["HUP", "INT", "QUIT", "KILL", "USR1", "USR2", "TERM", "CONT", "STOP", "WINCH"]

_BASH = r"""# bash completion for supervisorctl-lite
# Install: source <(supervisorctl-lite completion bash)   (e.g. from ~/.bashrc), or
#   supervisorctl-lite completion bash > /etc/bash_completion.d/supervisorctl-lite
_supervisorctl_lite() {
    # Words split on blanks only: COMP_WORDS would split web:0 at the colon.
    local line="${COMP_LINE:0:COMP_POINT}" cur="" words=() where=() cmd="" args=0 i
    read -r -a words <<< "$line"
    if [[ -n "$line" && "${line: -1}" != [[:space:]] ]]; then
        cur="${words[${#words[@]}-1]}"
        unset 'words[${#words[@]}-1]'
    fi
    local prev="${words[${#words[@]}-1]}"
    for ((i = 1; i < ${#words[@]}; i++)); do
        case "${words[i]}" in
            -c|--configuration|-s|--socket) where+=("${words[i]}" "${words[i+1]}"); ((i++)) ;;
            -n) ((i++)) ;;
            -*) ;;
            *) if [[ -z "$cmd" ]]; then cmd="${words[i]}"; else ((args++)); fi ;;
        esac
    done
    case "$prev" in
        -c|--configuration|-s|--socket) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        -n) return ;;
    esac
    local opts candidates
    if [[ -z "$cmd" ]]; then
        opts="__GLOBAL__"
        candidates="__COMMANDS__"
    else
        case "$cmd" in
__OPTION_CASES__
        esac
        case "$cmd" in
            __NAME_COMMANDS__) candidates="$("${words[0]}" "${where[@]}" _names 2>/dev/null)" ;;
            signal|tail|pid)
                if ((args == 0)); then
                    if [[ "$cmd" == signal ]]; then candidates="__SIGNALS__"
                    else candidates="$("${words[0]}" "${where[@]}" _names 2>/dev/null)"; fi
                elif [[ "$cmd" == signal ]]; then
                    candidates="$("${words[0]}" "${where[@]}" _names 2>/dev/null)"
                elif [[ "$cmd" == tail && $args == 1 ]]; then candidates="stdout stderr"
                fi ;;
            completion) ((args == 0)) && candidates="bash zsh" ;;
        esac
    fi
    if [[ "$cur" == -* ]]; then candidates="$opts"; fi
    COMPREPLY=($(compgen -W "$candidates" -- "$cur"))
    # Readline replaces only what follows the last colon of the word: drop the rest.
    if [[ "$cur" == *:* ]]; then
        local prefix="${cur%"${cur##*:}"}"
        for i in "${!COMPREPLY[@]}"; do COMPREPLY[i]="${COMPREPLY[i]#"$prefix"}"; done
    fi
}
complete -F _supervisorctl_lite supervisorctl-lite
"""

_ZSH = r"""#compdef supervisorctl-lite
# zsh completion for supervisorctl-lite
# Install: supervisorctl-lite completion zsh > "${fpath[1]}/_supervisorctl-lite"
#   (then restart zsh), or after compinit: source <(supervisorctl-lite completion zsh)
_supervisorctl_lite() {
    local -a where names
    local cmd="" i args=0
    for ((i = 2; i < CURRENT; i++)); do
        case "${words[i]}" in
            -c|--configuration|-s|--socket) where+=("${words[i]}" "${words[i+1]}"); ((i++)) ;;
            -n) ((i++)) ;;
            -*) ;;
            *) if [[ -z "$cmd" ]]; then cmd="${words[i]}"; else ((args++)); fi ;;
        esac
    done
    case "${words[CURRENT-1]}" in
        -c|--configuration|-s|--socket) _files; return ;;
        -n) return ;;
    esac
    local opts
    if [[ -z "$cmd" ]]; then
        if [[ "$PREFIX" == -* ]]; then compadd -- __GLOBAL__
        else compadd -- __COMMANDS__; fi
        return
    fi
    case "$cmd" in
__OPTION_CASES__
    esac
    if [[ "$PREFIX" == -* ]]; then compadd -- ${=opts}; return; fi
    names=(${(f)"$("${words[1]}" "${where[@]}" _names 2>/dev/null)"})
    case "$cmd" in
        __NAME_COMMANDS__) compadd -- "${names[@]}" ;;
        signal) if ((args == 0)); then compadd -- __SIGNALS__; else compadd -- "${names[@]}"; fi ;;
        tail) if ((args == 0)); then compadd -- "${names[@]}"
              elif ((args == 1)); then compadd -- stdout stderr; fi ;;
        pid) ((args == 0)) && compadd -- "${names[@]}" ;;
        completion) ((args == 0)) && compadd -- bash zsh ;;
    esac
}
if [[ "${funcstack[1]}" == _supervisorctl_lite || "${funcstack[1]}" == _supervisorctl-lite ]]; then
    _supervisorctl_lite "$@"
else
    compdef _supervisorctl_lite supervisorctl-lite
fi
"""


def script(shell: str) -> str:
    """The completion script for `shell` ("bash" or "zsh")."""
    text = _BASH if shell == "bash" else _ZSH
    cases = "\n".join(
        f'            {name}) opts="{" ".join(options)}" ;;' for name, options in OPTIONS.items()
    )
    return (
        text.replace("__GLOBAL__", " ".join(GLOBAL_OPTIONS))
        .replace("__COMMANDS__", " ".join(COMMAND_NAMES))
        .replace("__OPTION_CASES__", cases)
        .replace("__NAME_COMMANDS__", "|".join(NAME_COMMANDS))
        .replace("__SIGNALS__", " ".join(SIGNALS))
    )
