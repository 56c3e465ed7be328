export interface SseMessage {
  readonly event: string;
  readonly data: string;
  /** ms since the epoch when the client had it. */
  readonly at: number;
}

/**
 * A Server-Sent Events client over fetch, as a browser's EventSource reads the stream: collects messages and
 * comment lines (heartbeats) until the server closes or `close()` is called.
 */
export async function openSse(url: string) {
  const controller = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream' }, signal: controller.signal });
  const messages: SseMessage[] = [];
  const comments: string[] = [];
  let ended = false;
  const done = (async () => {
    if (!res.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line);
            else if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length > 0) messages.push({ event, data: data.join('\n'), at: Date.now() });
        }
      }
    } catch {
      // aborted by close()
    }
    ended = true;
  })();
  return {
    res,
    messages,
    comments,
    get ended() {
      return ended;
    },
    /** Resolves when the server ends the stream. */
    done,
    close() {
      controller.abort();
    },
  };
}
