"""Claude (Anthropic API) as a prompting backend, with the same `classify`/`generate` calls as `LocalLM`.

Modules: `backend` (ClaudeBackend: requests, planning, the backend interface), `capabilities` (the model as the API
describes it, and the thinking settings it allows), `client` (the SDK client and its shared rate-limit gate),
`cache` (responses on disk by request hash), `pricing` (dollars from usage, the estimate), `pool` (concurrent
requests) and `batches` (the Message Batches API).

- Shaped by what the API says about the model: `client.models.retrieve(id)` runs once, before anything is sent.
  An unknown or retired id stops the stage; a deprecated one warns. Its limits, its thinking types and effort
  levels decide the request: `claude.thinking: off` sends the first of `disabled`/`between_tools` the model
  accepts, and a model that can only think gets adaptive thinking at its lowest effort, with
  `claude.thinking_tokens` added to `max_tokens` (thinking tokens count toward it). No sampling parameter is
  ever sent (the 4.7+ and 5.x models reject `temperature`, `top_p` and `top_k`).
- Valid by construction: `classify` asks for structured output, a JSON schema with one enum per label field;
  `max_tokens` is sized from the longest allowed answer (output-token rate limits count `max_tokens`).
- A cut-off answer is a failure: `stop_reason: max_tokens` or `model_context_window_exceeded`, or no text block,
  is never cached as an answer and fails the stage, naming what to raise or cut; `pause_turn` (a server-tool loop;
  no tool is ever sent) is refused. A `refusal` is the model's answer: no label, its reason recorded.
- One budget per run: `planning()` collects every request a stage or a `classify` run will send, and the
  estimate covers all of them before the first goes out; one spend counter spans the run.
- Cheap by construction: the system turn (instruction, labels, few-shot block) carries `cache_control`; the
  estimate counts cache writes and reads only when that prefix reaches the model's `min_cache_tokens` (the API
  silently caches nothing below it). `claude.batch: true` sends the work through the Message Batches API.
- Concurrent: `claude.concurrency` requests in flight; a 429 or a 529 (overloaded) pauses every worker, not just
  one, for as long as it asks (`retry-after-ms`, else `retry-after` in seconds or as an HTTP date), at most
  `claude.max_wait_s`.
- Behind a gateway: where the Models API describes the model without capabilities (LiteLLM's proxy) or there is no
  Models API (404 on the id and on the list), the registry entry's `capabilities` decide, with one warning line;
  without them the stage stops in one line, naming the key to declare, before anything is sent.
- Never pays twice: every response is kept under the hash of its request in `claude.cache_dir` (default: the
  per-user cache, shared by checkouts and `dvc exp run --queue` copies). A batch's id and request map are stored
  before it is polled, so an interrupted run resumes polling it instead of paying for a new one.
- A failure is never a result: a request that still fails after the SDK's retries fails the stage, after every
  answer that did arrive is cached; after `max_consecutive_failures` failures in a row nothing more is sent.
The API key is read by the SDK from ANTHROPIC_API_KEY and never written anywhere.
"""
