// Where the mini-program finds the policy service. Change these two lines for your deployment.
// apiBase must be an HTTPS origin listed under 开发管理 → 开发设置 → 服务器域名 → request合法域名.
// h5Base (the H5 measures page opened in <web-view>) must be listed under 业务域名. Usually the same origin.
module.exports = {
  apiBase: 'https://policy.example.gov.cn',
  h5Base: 'https://policy.example.gov.cn',
  // stream answers through /v1/ask/stream (falls back to /v1/ask by itself when streaming is unavailable)
  stream: true,
  // wx.request timeout (ms); WeChat's own ceiling is 60 s
  timeout: 30000,
  // the longest gap between two setData calls while an answer streams in (ms)
  setDataInterval: 120,
  // the service's limit (413 question_too_long above it)
  maxQuestionChars: 500,
};
