"""Network namespaces for labs: a bridge namespace with member namespaces, nftables and tc inside
them, crash-safe through the ledger. Shared by network faults (:mod:`harness.chaos`) and the PCI
lab (:mod:`harness.netpol`); imports only ``harness.errors``, ``harness.ledger`` and
``harness.files``.

Importing this package registers the ledger undo handler for namespaces (kind ``netns``), so a
``harness.ledger.sweep`` in this process can remove a crashed run's lab.

Typical use::

    from harness.netns import Lab, Need, require
    require(Need.NFT)
    with Lab.create(["gen", "svc"]) as lab:
        gen, svc = lab.host("gen"), lab.host("svc")
        server = svc.namespace.popen(["python", "-m", "http.server", "--bind", str(svc.address)])
        with gen.namespace.entered():
            sock = socket.create_connection((str(svc.address), 8000))
"""

from harness.netns.capability import Capabilities, Need, lab_support, require
from harness.netns.cleanup import register_undo_handlers, sweep_prefix
from harness.netns.lab import NETNS_KIND, Host, Lab
from harness.netns.namespace import PREFIX_ENV, Namespace, default_prefix, list_namespaces
from harness.netns.nft import (
    Hook,
    NftTable,
    apply_table,
    chain_text,
    delete_table,
    drop_rule,
    list_tables,
    loss_rule,
    reject_rule,
    table_exists,
)
from harness.netns.tc import Qdisc, remove_root_qdisc, root_qdisc, tbf_limit

register_undo_handlers()

__all__ = [
    "NETNS_KIND",
    "PREFIX_ENV",
    "Capabilities",
    "Hook",
    "Host",
    "Lab",
    "Namespace",
    "Need",
    "NftTable",
    "Qdisc",
    "apply_table",
    "chain_text",
    "default_prefix",
    "delete_table",
    "drop_rule",
    "lab_support",
    "list_namespaces",
    "list_tables",
    "loss_rule",
    "reject_rule",
    "remove_root_qdisc",
    "require",
    "root_qdisc",
    "sweep_prefix",
    "table_exists",
    "tbf_limit",
]
