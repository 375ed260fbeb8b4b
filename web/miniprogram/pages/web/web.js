const config = require('../../config.js');

Page({
  data: { url: '' },
  onLoad(query) {
    const url = decodeURIComponent((query && query.url) || '');
    // only our own H5 origin: never open an arbitrary address passed in
    const allowed = url.indexOf(config.h5Base + '/') === 0;
    this.setData({ url: allowed ? url : config.h5Base + '/measures.html' });
  },
});
