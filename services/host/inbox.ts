/**
 * The local application's inbox: every message that reaches this host (direct or flooded) goes
 * to each open Receive stream. A stream that does not keep up loses messages rather than making
 * the host buffer without bound; the loss is counted.
 */
import { ResourceExhaustedError } from '../common/errors';
import type { ReceiveResponse } from '../gen/grapevine/v1/host';

export interface Receiver {
  /** Writes one message; false when the stream's buffer is full (the message is dropped). */
  write(message: ReceiveResponse): boolean;
  /** Ends the stream with an error (the host is stopping). */
  end(error: Error): void;
}

export class Inbox {
  private readonly receivers = new Set<Receiver>();

  constructor(
    /** Receivers at once (maxReceiveStreams): each gets a copy of every message. */
    private readonly capacity: number,
    private readonly onCount: (receivers: number) => void,
    private readonly onDropped: () => void,
  ) {}

  /**
   * Adds a receiver; the returned function removes it. Throws ResourceExhaustedError when
   * `capacity` receivers are subscribed already.
   */
  subscribe(receiver: Receiver): () => void {
    if (this.receivers.size >= this.capacity) {
      throw new ResourceExhaustedError(
        `${this.receivers.size} Receive streams are open, the most this host serves (maxReceiveStreams): end one, or share one stream in the application`,
      );
    }
    this.receivers.add(receiver);
    this.onCount(this.receivers.size);
    return () => {
      if (this.receivers.delete(receiver)) this.onCount(this.receivers.size);
    };
  }

  publish(message: ReceiveResponse): void {
    for (const receiver of this.receivers) if (!receiver.write(message)) this.onDropped();
  }

  /** Ends every stream: a stopping host tells its receivers rather than leaving them hanging. */
  endAll(error: Error): void {
    for (const receiver of [...this.receivers]) receiver.end(error);
    this.receivers.clear();
    this.onCount(0);
  }

  get size(): number {
    return this.receivers.size;
  }
}
