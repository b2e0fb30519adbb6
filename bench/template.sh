# bench/template.sh - sourced by bench scripts that create domains with
# virsh: render_template TEMPLATE NAME TYPE KERNEL SERIAL_LOG HOSTFWD
# prints images/templates/TEMPLATE with its variables filled in for one
# 32 MiB, one-vCPU guest of the reference image (user-mode networking:
# 10.0.2.15/24; no initrd, whose element summond drops as this does).
# HOSTFWD is QEMU's hostfwd=... option, or empty.
render_template() {
	local template=$1 name=$2 type=$3 kernel=$4 log=$5 fwd=$6
	sed -e '/<initrd>\${initrd}<\/initrd>/d' -e "s|\${domain_type}|$type|g" -e "s|\${name}|$name|g" -e "s|\${metadata}||g" \
	    -e "s|\${kernel}|$kernel|g" -e "s|\${cmdline}|ip=10.0.2.15/24 gw=10.0.2.2|g" \
	    -e "s|\${memory_kib}|32768|g" -e "s|\${vcpus}|1|g" \
	    -e "s|\${mac}|52:54:00:62:01:01|g" -e "s|\${serial_log}|$log|g" \
	    -e "s|,\${hostfwd}|${fwd:+,$fwd}|g" \
	    "$(dirname "${BASH_SOURCE[0]}")/../images/templates/$template"
}
