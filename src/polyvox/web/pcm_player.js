// Plays a streamed raw PCM body (s16le mono) as it arrives: each piece is scheduled right after the last on
// the page's AudioContext. The one player of the speech panel and the dialogue panel.

export async function playPcm(response, ctx, mine, onPiece) {
  const rate = Number(response.headers.get("X-Sample-Rate"));
  const reader = response.body.getReader();
  let carry = new Uint8Array(0);  // an odd byte waits for its pair
  let next = ctx.currentTime + 0.05;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    const bytes = new Uint8Array(carry.length + value.length);
    bytes.set(carry);
    bytes.set(value, carry.length);
    const even = bytes.length - (bytes.length % 2);
    carry = bytes.slice(even);
    const count = even / 2;
    if (!count) continue;
    const view = new DataView(bytes.buffer, 0, even);
    const samples = new Float32Array(count);
    for (let i = 0; i < count; i++) samples[i] = view.getInt16(i * 2, true) / 32768;
    const buffer = ctx.createBuffer(1, count, rate);
    buffer.copyToChannel(samples, 0);
    const source = ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(ctx.destination);
    next = Math.max(next, ctx.currentTime + 0.02);
    source.start(next);
    next += count / rate;
    mine.sources.push(source);
    onPiece(count, rate);
  }
}
