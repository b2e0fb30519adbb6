# bash completion for summonctl(8)                          -*- shell-script -*-
#
# Completes global options, commands, their options, and service names,
# which come from `summonctl --json list` when summond answers on the
# socket in use (-s/--socket on the line, else $SUMMON_SOCKET).

# Service names from the running summond, one a line; nothing if it does
# not answer within a second.
_summonctl_services()
{
    local -a cmd=(summonctl)
    [[ -n $1 ]] && cmd+=(-s "$1")
    command -v "${cmd[0]}" >/dev/null 2>&1 || return 0
    timeout 1 "${cmd[@]}" --json list 2>/dev/null |
        sed -n 's/^ *"service": *"\([a-z0-9-]*\)".*/\1/p'
}

_summonctl()
{
    local cur prev words cword
    if declare -F _init_completion >/dev/null 2>&1; then
        _init_completion || return
    else
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD-1]}
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    fi

    local commands="list status boot reap events reload hosts"
    local global_opts="-s --socket -t --timeout -j --json -h --help --version"
    local sock="" cmd="" cmd_idx=0 i w

    # Find the socket and the command (the first word that is no option).
    for ((i = 1; i < cword; i++)); do
        w=${words[i]}
        case $w in
        -s | --socket)
            sock=${words[i + 1]}
            ((i++))
            ;;
        -t | --timeout)
            ((i++))
            ;;
        --socket=*)
            sock=${w#--socket=}
            ;;
        -*) ;;
        *)
            cmd=$w
            cmd_idx=$i
            break
            ;;
        esac
    done

    if [[ -z $cmd ]]; then
        case $prev in
        -s | --socket)
            COMPREPLY=($(compgen -f -- "$cur"))
            compopt -o filenames 2>/dev/null
            return
            ;;
        -t | --timeout)
            return
            ;;
        esac
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "$global_opts" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$commands" -- "$cur"))
        fi
        return
    fi

    # Arguments already given to the command.
    local nargs=0 has_flag=""
    for ((i = cmd_idx + 1; i < cword; i++)); do
        case ${words[i]} in
        --idle | --all) has_flag=1 ;;
        -n) ((i++)) ;;
        -*) ;;
        *) ((nargs++)) ;;
        esac
    done

    case $cmd in
    list | reload | hosts)
        ;;
    status | boot)
        ((nargs == 0)) &&
            COMPREPLY=($(compgen -W "$(_summonctl_services "$sock")" -- "$cur"))
        ;;
    reap)
        if [[ -n $has_flag ]]; then
            :
        elif [[ $cur == -* ]]; then
            ((nargs == 0)) && COMPREPLY=($(compgen -W "--idle --all" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$(_summonctl_services "$sock")" -- "$cur"))
        fi
        ;;
    events)
        if [[ $prev == -n ]]; then
            COMPREPLY=($(compgen -W "10 20 50 100 1000" -- "$cur"))
        elif [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "-n -f --follow" -- "$cur"))
        elif ((nargs == 0)); then
            COMPREPLY=($(compgen -W "$(_summonctl_services "$sock")" -- "$cur"))
        fi
        ;;
    esac
} &&
    complete -F _summonctl summonctl

# ex: filetype=sh
