import type { ConfigState } from '@flotilla/core';

/** The part of the transport that peer links are made and dropped with. */
export interface PeerLinkTarget {
  addPeer(peer: string, address: string): void;
  removePeer(peer: string): void;
}

/**
 * Decides which peers a node keeps a transport link to: every member of the configuration in
 * force, and every member with an address record in the replicated registry.
 *
 * The two move at different times. The configuration changes when its entry is appended; the
 * registry when its record is applied, which after a restart is only up to the commit index the
 * node last made durable. A node can therefore replay the record that forgot a removed member's
 * address while the configuration it read from its log already lists that member again (added
 * back afresh). Dropping the link then would leave the node unable to reach a member it needs for
 * a quorum. So a link goes only once its peer is in neither, and the address used is the
 * registry's, else the last one this process knew (its static peers included).
 */
export class PeerLinks {
  private readonly known = new Map<string, string>();
  private readonly registered = new Set<string>();
  private members = new Set<string>();

  constructor(
    private readonly self: string,
    staticPeers: Readonly<Record<string, string>>,
    private readonly target: PeerLinkTarget,
    private readonly warn: (message: string) => void,
  ) {
    for (const [id, address] of Object.entries(staticPeers)) this.known.set(id, address);
  }

  /** A member's address record was written (`addresses`) or forgotten (undefined). */
  registryChanged(id: string, addresses: { readonly raftAddress: string } | undefined): void {
    if (addresses) {
      this.registered.add(id);
      this.known.set(id, addresses.raftAddress);
    } else {
      this.registered.delete(id);
    }
    this.reconcile(id);
  }

  /** The configuration in force changed. */
  configChanged(config: ConfigState): void {
    const next = new Set([...config.voters, ...config.outgoingVoters, ...config.learners]);
    const affected = new Set([...this.members, ...next]);
    this.members = next;
    for (const id of affected) this.reconcile(id);
  }

  private reconcile(id: string): void {
    if (id === this.self) return;
    if (!this.registered.has(id) && !this.members.has(id)) {
      this.target.removePeer(id);
      return;
    }
    const address = this.known.get(id);
    if (address === undefined) {
      this.warn(`${id} is a member but no address is known for it yet (its record has not been applied here)`);
      return;
    }
    this.target.addPeer(id, `ws://${address}`);
  }
}
