// 江苏人社政策问答 mini-program sample. The service does the answering; this client streams and renders.
const { setAuth } = require('./utils/request.js');
const auth = require('./utils/auth.js');

App({
  onLaunch() {
    setAuth(auth.getToken, auth.invalidate);
    auth.getToken(); // log in early; questions wait for it only if it is still running
  },
});
