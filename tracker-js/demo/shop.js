// Larder demo storefront: a tiny shop in plain JS. The cart lives in the `cart` URL parameter
// (e.g. ?cart=p-sencha:2,p-oolong:1): no cookies, no storage. The tracker strips that parameter
// from what it sends, since it is not allow-listed.
(function () {
  'use strict';

  var PRODUCTS = [
    { id: 'p-sencha', page: 'product-sencha.html', name: 'Sencha Green Tea', category: 'Tea', price: '4.50',
      swatch: 'sencha', words: 'sencha green tea japan grassy loose leaf' },
    { id: 'p-assam', page: 'product-assam.html', name: 'Assam Breakfast Tea', category: 'Tea', price: '5.20',
      swatch: 'assam', words: 'assam black tea breakfast malty india loose leaf' },
    { id: 'p-oolong', page: 'product-oolong.html', name: 'Milk Oolong', category: 'Tea', price: '7.90',
      swatch: 'oolong', words: 'milk oolong tea taiwan creamy loose leaf' },
  ];

  function product(id) {
    for (var i = 0; i < PRODUCTS.length; i++) if (PRODUCTS[i].id === id) return PRODUCTS[i];
    return null;
  }

  // Money is handled in cents and formatted as the decimal strings the wire format wants.
  function cents(price) { return Math.round(parseFloat(price) * 100); }
  function money(c) { return (c / 100).toFixed(2); }

  function param(name) { return new URLSearchParams(location.search).get(name); }

  function readCart() {
    var lines = [];
    (param('cart') || '').split(',').forEach(function (part) {
      var kv = part.split(':');
      var p = product(kv[0]);
      var q = parseInt(kv[1], 10);
      if (p && q > 0) lines.push({ product: p, quantity: Math.min(q, 99) });
    });
    return lines;
  }

  function cartParam(lines) {
    return lines.map(function (l) { return l.product.id + ':' + l.quantity; }).join(',');
  }

  function withCart(href, lines) {
    var c = cartParam(lines || readCart());
    if (!c) return href;
    var u = new URL(href, location.href);
    u.searchParams.set('cart', c);
    return u.pathname.split('/').pop() + u.search + u.hash;
  }

  // Wire-format items for the tracker: id, name, category, quantity, unit price (a string).
  function item(p, quantity) {
    return { id: p.id, name: p.name, category: p.category, quantity: quantity || 1, price: p.price };
  }
  function items(lines) {
    return lines.map(function (l) { return item(l.product, l.quantity); });
  }
  function total(lines) {
    return money(lines.reduce(function (s, l) { return s + cents(l.product.price) * l.quantity; }, 0));
  }
  // The shop's currency. Events with priced items say which currency the prices are in:
  // `currency` on view_item, add_to_cart, remove_from_cart and begin_checkout; `purchase`
  // carries the order's revenue instead (in the same currency), the only money taken.
  var CURRENCY = 'EUR';
  function revenue(lines) {
    return { amount: total(lines), currency: CURRENCY };
  }

  // Keep the cart when moving between shop pages: internal .html links and the search form.
  function carryCart(root) {
    var lines = readCart();
    var count = lines.reduce(function (s, l) { return s + l.quantity; }, 0);
    var badge = document.querySelector('[data-cart-count]');
    if (badge) badge.textContent = String(count);
    // An empty basket adds nothing to the search form's URL.
    document.querySelectorAll('input[name="cart"]').forEach(function (i) { i.disabled = !lines.length; });
    if (!lines.length) return;
    (root || document).querySelectorAll('a[href$=".html"], a[href*=".html?"]').forEach(function (a) {
      if (a.hasAttribute('data-no-cart') || /^[a-z]+:/i.test(a.getAttribute('href'))) return;
      a.setAttribute('href', withCart(a.getAttribute('href'), lines));
    });
    document.querySelectorAll('input[name="cart"]').forEach(function (i) { i.value = cartParam(lines); });
  }

  function card(p) {
    return '<li class="card"><a href="' + p.page + '"><div class="swatch ' + p.swatch + '"></div>' +
      '<h3>' + p.name + '</h3><p>&euro; ' + p.price + '</p></a></li>';
  }

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }

  var Shop = {
    products: PRODUCTS,

    listing: function (el) {
      el.innerHTML = PRODUCTS.map(card).join('');
    },

    // Product page: view_item on load; add_to_cart on the button.
    productPage: function (id) {
      var p = product(id);
      larder('view_item', { items: [item(p, 1)], currency: CURRENCY });
      document.querySelector('[data-add-to-cart]').addEventListener('click', function () {
        var qty = Math.max(1, parseInt(document.querySelector('#qty').value, 10) || 1);
        larder('add_to_cart', { items: [item(p, qty)], currency: CURRENCY });
        var lines = readCart();
        var line = lines.filter(function (l) { return l.product.id === id; })[0];
        if (line) line.quantity += qty; else lines.push({ product: p, quantity: qty });
        location.href = withCart('cart.html', lines);
      });
    },

    // Search page: filters the catalogue in the page, shows "N results" (data-count) or a no-results state.
    searchPage: function () {
      var q = (param('q') || '').trim();
      var words = q.toLowerCase().split(/\s+/).filter(Boolean);
      var found = words.length ? PRODUCTS.filter(function (p) {
        return words.every(function (w) { return (p.name + ' ' + p.words).toLowerCase().indexOf(w) >= 0; });
      }) : [];
      document.querySelector('#q').value = q;
      document.querySelector('[data-query]').textContent = q;
      var count = document.querySelector('[data-search-count]');
      count.setAttribute('data-count', String(found.length));
      count.textContent = found.length === 1 ? '1 result' : found.length + ' results';
      var list = document.querySelector('.search-results');
      list.innerHTML = found.map(function (p) {
        return '<li class="search-result" data-product-id="' + p.id + '"><a href="' + p.page + '"><span>' +
          esc(p.name) + '</span><span>&euro; ' + p.price + '</span></a></li>';
      }).join('');
      document.querySelector('[data-no-results]').hidden = found.length > 0;
    },

    cartPage: function () {
      var lines = readCart();
      var body = document.querySelector('[data-cart-lines]');
      body.innerHTML = lines.map(function (l) {
        return '<tr><td>' + esc(l.product.name) + '</td><td class="num">' + l.quantity + '</td><td class="num">&euro; ' +
          l.product.price + '</td><td class="num">&euro; ' + money(cents(l.product.price) * l.quantity) +
          '</td><td><button class="secondary remove" data-remove="' + l.product.id + '">Remove</button></td></tr>';
      }).join('') || '<tr><td colspan="5">Your basket is empty.</td></tr>';
      document.querySelector('[data-cart-total]').textContent = total(lines);
      document.querySelector('[data-checkout]').hidden = !lines.length;
      body.addEventListener('click', function (e) {
        var b = e.target.closest('[data-remove]');
        if (!b) return;
        var id = b.getAttribute('data-remove');
        var line = lines.filter(function (l) { return l.product.id === id; })[0];
        larder('remove_from_cart', { items: [item(line.product, line.quantity)], currency: CURRENCY });
        location.href = withCart('cart.html', lines.filter(function (l) { return l !== line; }));
      });
      // A deliberate bug for the demo: the voucher button throws (the tracker reports a js_error).
      document.querySelector('[data-apply-voucher]').addEventListener('click', function () {
        var voucher = null;
        voucher.apply(document.querySelector('#voucher').value);
      });
    },

    checkoutPage: function () {
      var lines = readCart();
      document.querySelector('[data-cart-total]').textContent = total(lines);
      document.querySelector('[data-item-count]').textContent = String(lines.length);
      if (lines.length) larder('begin_checkout', { items: items(lines), currency: CURRENCY });
      document.querySelector('[data-place-order]').addEventListener('click', function (e) {
        e.preventDefault();
        if (!lines.length) return;
        // Form fields (name, e-mail) stay in the page: only the cart and an order id travel on.
        var order = 'LD' + Date.now().toString(36).toUpperCase();
        location.href = 'order-confirmation.html?cart=' + encodeURIComponent(cartParam(lines)) + '&order=' + order;
      });
    },

    confirmationPage: function () {
      var lines = readCart();
      var order = param('order') || '';
      document.querySelector('[data-order-id]').textContent = order;
      document.querySelector('[data-cart-total]').textContent = total(lines);
      if (lines.length && order) {
        larder('purchase', { order_id: order, items: items(lines), revenue: revenue(lines) });
      }
      // The order is placed: links from here start with an empty basket.
      document.querySelectorAll('a').forEach(function (a) { a.setAttribute('data-no-cart', ''); });
    },

    carryCart: carryCart,
  };

  window.Shop = Shop;
})();
