// Posts the review on a GitHub pull request as ONE comment per stack: the comment that carries the stack's hidden
// marker is updated, or created when there is none. The HTTP client is passed in, so tests use a fake.

import { commentMarker } from "./report";

export interface GitHubTarget {
  /** REST API root, e.g. https://api.github.com (GITHUB_API_URL). */
  readonly apiUrl: string;
  /** owner/name (GITHUB_REPOSITORY). */
  readonly repo: string;
  /** Pull request number. */
  readonly pr: number;
  /** Token with pull-requests: write (GITHUB_TOKEN). */
  readonly token: string;
}

/** The target from the environment of a GitHub Actions pull_request job; throws naming what is missing. */
export function githubTargetFromEnv(env: NodeJS.ProcessEnv, readFile: (p: string) => string): GitHubTarget {
  const missing = ["GITHUB_TOKEN", "GITHUB_REPOSITORY"].filter((k) => !env[k]);
  if (missing.length > 0) throw new Error(`--post-comment needs ${missing.join(" and ")} in the environment`);
  let pr = Number(env.MIRRORSTACK_REVIEW_PR ?? NaN);
  if (!Number.isInteger(pr) || pr <= 0) {
    if (!env.GITHUB_EVENT_PATH) throw new Error("--post-comment needs GITHUB_EVENT_PATH (a pull_request event) or MIRRORSTACK_REVIEW_PR");
    const event = JSON.parse(readFile(env.GITHUB_EVENT_PATH)) as { pull_request?: { number?: unknown }; number?: unknown };
    pr = Number(event.pull_request?.number ?? event.number);
    if (!Number.isInteger(pr) || pr <= 0) throw new Error("the GitHub event is not about a pull request (no pull_request.number)");
  }
  if (!/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(env.GITHUB_REPOSITORY!)) throw new Error(`GITHUB_REPOSITORY ${JSON.stringify(env.GITHUB_REPOSITORY)} is not owner/name`);
  return { apiUrl: (env.GITHUB_API_URL ?? "https://api.github.com").replace(/\/+$/, ""), repo: env.GITHUB_REPOSITORY!, pr, token: env.GITHUB_TOKEN! };
}

export type Fetch = (url: string, init: { method: string; headers: Record<string, string>; body?: string }) => Promise<{
  ok: boolean;
  status: number;
  json(): Promise<unknown>;
  text(): Promise<string>;
}>;

/** The comment body: the marker line, then the report. */
export function commentBody(stack: string, report: string): string {
  return `${commentMarker(stack)}\n${report}`;
}

/** Updates the stack's review comment on the pull request, or creates it. */
export async function upsertReviewComment(
  gh: GitHubTarget,
  stack: string,
  report: string,
  fetchFn: Fetch,
): Promise<{ action: "created" | "updated"; id: number; url?: string }> {
  const headers = {
    Accept: "application/vnd.github+json",
    Authorization: `Bearer ${gh.token}`,
    "X-GitHub-Api-Version": "2022-11-28",
    "Content-Type": "application/json",
  };
  const call = async (method: string, url: string, body?: unknown) => {
    const res = await fetchFn(url, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    if (!res.ok) throw new Error(`GitHub ${method} ${url.replace(gh.apiUrl, "")}: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
    return res.json();
  };
  const marker = commentMarker(stack);
  let existing: number | undefined;
  for (let page = 1; page <= 50 && existing === undefined; page++) {
    const list = (await call("GET", `${gh.apiUrl}/repos/${gh.repo}/issues/${gh.pr}/comments?per_page=100&page=${page}`)) as { id: number; body?: string }[];
    if (!Array.isArray(list)) throw new Error("GitHub returned no list of comments");
    existing = list.find((c) => typeof c.body === "string" && c.body.startsWith(marker))?.id;
    if (list.length < 100) break;
  }
  const body = { body: commentBody(stack, report) };
  if (existing !== undefined) {
    const res = (await call("PATCH", `${gh.apiUrl}/repos/${gh.repo}/issues/comments/${existing}`, body)) as { id: number; html_url?: string };
    return { action: "updated", id: res.id, ...(res.html_url ? { url: res.html_url } : {}) };
  }
  const res = (await call("POST", `${gh.apiUrl}/repos/${gh.repo}/issues/${gh.pr}/comments`, body)) as { id: number; html_url?: string };
  return { action: "created", id: res.id, ...(res.html_url ? { url: res.html_url } : {}) };
}
