// Every string the dashboard shows, in English and Spanish, and the Intl formatters
// (money, dates, relative times) of the chosen language. A message is a string with
// {placeholders}, or an object of plural forms chosen with Intl.PluralRules.

export const LANGUAGES = ["en", "es"];
const LANGUAGE_KEY = "sobre.language"; // a preference, never a secret

export const MESSAGES = {
  en: {
    documentTitle: "Sobre · Sent invoices",
    skip: "Skip to content",
    loading: "Loading…",
    language: "Language",
    brandTagline: "Invoice tracking",
    signOut: "Sign out",
    signInTitle: "Sign in",
    signInHelp:
      "Paste your Sobre API key. It stays in this browser tab only and is forgotten when you close the tab or sign out.",
    apiKey: "API key",
    signIn: "Sign in",
    signingIn: "Signing in…",
    keyMissing: "Enter your API key.",
    keyRejected:
      "That API key was not accepted. Check that you pasted all of it, or create a new one with “make api-key”.",
    sessionExpired: "Your API key is no longer accepted. Sign in again.",
    signedOut: "You are signed out. The key was removed from this tab.",
    unreachable: "Could not reach the Sobre API. Check your connection and try again.",
    serverError: "The Sobre API answered with an error ({status}). Try again in a moment.",
    sentInvoices: "Sent invoices",
    updated: "Updated {time} · refreshes every 5 s",
    refreshFailed: "Could not refresh at {time}; retrying every 5 s.",
    filter: "Show",
    filterAll: "All",
    filterViewed: "Viewed by customer",
    filterUnopened: "Not opened",
    filterProblems: "Problems",
    filterPaid: "Paid",
    searchLabel: "Search by invoice number",
    searchPlaceholder: "Number, or its start",
    searchHint: "Finds every invoice whose number starts with what you type, loaded or not.",
    searchCapped: "Showing the first {count} matches: type more of the number to narrow them.",
    searchFound: {
      one: "1 invoice whose number starts with “{query}”",
      other: "{count} invoices whose number starts with “{query}”",
    },
    tableCaption:
      "Sent invoices, most recently changed first. Press Enter on a row to see its details.",
    colActivity: "Activity",
    colInvoice: "Invoice",
    colCustomer: "Customer",
    colTotal: "Total",
    colSent: "Sent",
    colStatus: "Status",
    loadMore: "Load more",
    loadingMore: "Loading…",
    shown: { one: "{count} invoice shown", other: "{count} invoices shown" },
    shownAll: { one: "{count} invoice, all loaded", other: "{count} invoices, all loaded" },
    emptyAll: "No invoices yet. Invoices you send with POST /invoices appear here.",
    emptyFilter: "No invoices in this view.",
    emptySearch: "No invoice number starts with “{query}”.",
    emptySearchFilter: "No invoice in this view has a number starting with “{query}”.",
    notSent: "Not sent",
    rowHint: "Open the details of invoice {number}",
    iconOpened: "Opened by a person (first opened {time})",
    iconNotOpened: "Not opened by a person yet",
    iconMachineOnly: "Fetched by a machine only (privacy prefetch or scanner), not counted as opened",
    iconViewed: "Viewed online",
    iconProblem: {
      one: "1 recipient has a problem (bounce, complaint or failure)",
      other: "{count} recipients have a problem (bounce, complaint or failure)",
    },
    status: {
      pending: "Pending",
      queued: "Queued",
      failed: "Failed",
      sent: "Sent",
      delivered: "Delivered",
      opened: "Opened",
      viewed: "Viewed online",
      rejected: "Rejected",
      bounced: "Bounced",
      complained: "Complaint",
    },
    navLabel: "Sections",
    navInvoices: "Invoices",
    navSettings: "Settings",
    payment: { unpaid: "Unpaid", paid: "Paid", void: "Void" },
    paymentHeading: "Payment",
    unpaidNote: "Not marked as paid. Reminders go out while it is unpaid.",
    paidAt: "Paid",
    paidAmount: "Amount",
    paidReference: "Reference",
    voidedAt: "Voided",
    voidReason: "Reason",
    markPaid: "Mark as paid",
    voidInvoice: "Void",
    confirmPaid: "Mark invoice {number} as paid ({amount} unless you enter another amount)? No reminders go out after this.",
    confirmVoid: "Void invoice {number}? It cannot be paid afterwards, and no reminders go out.",
    referenceHint: "Optional: the bank transfer's or receipt's reference.",
    amountHint: "Optional: leave empty for the total, {total} {currency}.",
    reasonHint: "Optional: why it is void.",
    confirmPaidButton: "Confirm: mark as paid",
    confirmVoidButton: "Confirm: void",
    cancel: "Cancel",
    saving: "Saving…",
    markedPaid: "Marked as paid.",
    markedVoid: "Voided.",
    payConflict: "This invoice cannot be marked paid: it is void, or already paid with other details.",
    voidConflict: "A paid invoice cannot be voided.",
    payFailed: "Not marked as paid: {message}",
    voidFailed: "Not voided: {message}",
    checkFields: "check the fields marked below.",
    addRecipientHeading: "Add a recipient",
    addRecipientHelp: "Sends this invoice now to another address (after a bounce, say), with its own tracking.",
    recipientEmail: "Email address",
    recipientName: "Name",
    optional: "Optional.",
    addRecipient: "Add and send",
    emailMissing: "Enter an email address.",
    recipientAdded: "Queued for {email}: it goes out in a moment.",
    recipientFailed: "Added {email}, but sending failed.",
    addFailed: "Not added: {message}",
    alreadyRecipient: "That address already receives this invoice.",
    settingsTitle: "Settings",
    settingsHelp: "Your account's sender, reports, reminders and tracking. Saved settings apply at once.",
    nextDigest: "Next digest",
    nextDigestNone: "None: digests go to the report address, and none is set.",
    settingsSave: "Save settings",
    settingsSaved: "Settings saved.",
    settingsUnchanged: "Nothing changed, so nothing was saved.",
    settingsInvalid: {
      one: "Not saved: 1 setting needs fixing (marked below).",
      other: "Not saved: {count} settings need fixing (marked below).",
    },
    settingsFailed: "Not saved: {message}",
    settingsGroup: {
      sender: "Sender",
      reports: "Reports and alerts",
      reminders: "Reminders",
      tracking: "Tracking and retention",
    },
    setting: {
      name: "Sender name",
      from_address: "Sender address",
      reply_to: "Reply-to address",
      report_address: "Report address",
      time_zone: "Time zone",
      locale: "Locale of invoice emails",
      tracking: "Track opens",
      retention_days: "Keep invoices for (days)",
      digest_when_quiet: "Send the digest on quiet days too",
      unopened_after_days: "Report unopened after (days)",
      reminders: "Send reminders",
      reminder_after_days: "Remind after (days)",
      reminder_max: "Reminders at most",
      alert_emails: "Alert emails",
    },
    settingHint: {
      name: "Shown in every email and report, 1 to 200 characters.",
      from_address: "An address your email service has verified.",
      reply_to: "Optional: where your customers' replies go.",
      report_address: "Where the daily digest and alert emails go. Empty: none are sent.",
      time_zone: "An IANA time zone such as Europe/Madrid: the digest goes out at 07:00 in it.",
      locale: "The language of your invoices' emails when an invoice does not say.",
      tracking: "Adds the open-tracking image to your emails.",
      retention_days: "1 to 3650 days. Empty: Sobre's default.",
      digest_when_quiet: "Otherwise a day with nothing to report sends nothing.",
      unopened_after_days: "The digest lists invoices delivered and still unopened this long: 1 to 90 days.",
      reminders: "Reminds customers of unpaid invoices they have not opened.",
      reminder_after_days: "1 to 60 days.",
      reminder_max: "0 to 10 per invoice.",
      alert_emails: "Emails the report address on every open, view, bounce and complaint.",
    },
    localeName: { en: "English", es: "Spanish" },
    invoice: "Invoice",
    closeDetails: "Close details",
    due: "Due {date}",
    detailLoading: "Loading invoice…",
    detailFailed: "Could not load this invoice: {message}",
    notFound: "This invoice no longer exists in your account.",
    opensHeading: "Opens",
    opensByPerson: {
      one: "Opened once by a person",
      other: "Opened {count} times by a person",
    },
    notOpened: "Not opened by a person yet",
    firstOpened: "First opened",
    lastOpened: "Last opened",
    firstOpenedBy: "Who opened first",
    machineOpens: "Machine opens",
    machineOpensValue: {
      one: "1, not counted (privacy prefetch or scanner)",
      other: "{count}, not counted (privacy prefetches and scanners)",
    },
    viewedOnline: "Viewed online",
    sentAt: "Sent",
    deliveredAt: "Delivered",
    problems: "Problems",
    problemsValue: { one: "1 recipient", other: "{count} recipients" },
    notYet: "Not yet",
    none: "None",
    timesIn: "Times in your time zone ({zone}).",
    resendHelp: {
      one: "1 recipient could not be sent to.",
      other: "{count} recipients could not be sent to.",
    },
    resend: "Resend to failed recipients",
    resending: "Sending…",
    resent: { one: "Queued again for 1 recipient.", other: "Queued again for {count} recipients." },
    resendStillFailed: {
      one: "1 recipient still failed: {reasons}",
      other: "{count} recipients still failed: {reasons}",
    },
    resendError: "Could not resend: {message}",
    recipientsHeading: "Recipients",
    colRecipient: "Recipient",
    colOpens: "Opens",
    colFirstOpened: "First opened",
    colLastOpened: "Last opened",
    colMachineOpens: "Machine opens",
    bounceInfo: "Bounce: {type} {subtype}",
    complaintInfo: "Complaint: {type}",
    rejectionInfo: "Rejected: {reason}",
    failureInfo: "Last failure: {reason}",
    timelineHeading: "Timeline",
    timelineLabel: "Timeline from {start} to {end}: {opens}, {machine}, {problems}. The event history below lists every event.",
    timelineLabelLatest:
      "Timeline of the latest {shown} events, from {start} to {end}: {opens}, {machine}, {problems}. The event history below lists them; older events are not shown.",
    eventsTruncated: {
      one: "Only the latest event is shown in the timeline and the history.",
      other: "Only the latest {shown} events are shown in the timeline and the history.",
    },
    eventsTruncatedTotals: "In all: {opens}, {machine}.",
    totalOpens: { one: "{shown} open by a person", other: "{shown} opens by a person" },
    totalMachine: { one: "{shown} machine open", other: "{shown} machine opens" },
    chartOpens: { one: "1 open by a person", other: "{count} opens by a person" },
    chartMachine: { one: "1 machine open", other: "{count} machine opens" },
    chartProblems: { one: "1 problem", other: "{count} problems" },
    invoiceLane: "Invoice",
    legend: {
      sent: "Created or sent",
      delivery: "Delivered",
      person: "Opened by a person",
      machine: "Machine fetch",
      viewed: "Viewed online",
      link: "Link or page fetch",
      problem: "Problem",
      other: "Other",
    },
    historyHeading: "Event history",
    historyNote: "Newest first.",
    noEvents: "No events yet.",
    event: {
      created: "Invoice created",
      sent: "Sent",
      send: "Accepted by SES",
      send_failed: "Sending failed",
      delivery: "Delivered",
      open: "Opened",
      click: "Link clicked",
      bounce: "Bounced",
      complaint: "Marked as spam",
      reject: "Rejected by SES",
      delivery_delay: "Delivery delayed",
      rendering_failure: "Rendering failed",
      subscription: "Subscription changed",
      view: "Hosted invoice fetched",
      viewed: "Viewed online",
    },
    verdict: {
      human: "Person",
      proxy: "Person (webmail image proxy)",
      privacy_prefetch: "Apple Mail privacy prefetch",
      scanner: "Scanner",
      sender: "Your own preview",
      unknown: "Unknown",
    },
    verdictLabel: "Verdict",
    reasonsLabel: "Reasons",
    notCounted: "Repeats an open already counted",
    source: { api: "Sobre", ses: "SES", pixel: "Tracking" },
    reason: {
      "sender-preview": "the account's own preview",
      "method:head": "HEAD request (headers only)",
      "ua:apple-mail-privacy-protection": "Apple Mail Privacy Protection",
      "ua:image-proxy": "image proxy: {name}",
      "ua:scanner": "scanner: {name}",
      "ua:missing": "no user agent",
      "ua:bot": "crawler or bot",
      "ua:client": "mail client or browser: {name}",
      "ua:unrecognised": "unrecognised user agent",
      "net": "network: {name}",
      burst: "{name} links fetched at once",
      "timing:too-fast": "too soon after delivery",
      "first-fetch": "first fetch",
      "repeat-fetch": "repeat fetch",
      "after-delivery": "{name} after delivery",
      "after-send": "{name} after sending",
    },
  },
  es: {
    documentTitle: "Sobre · Facturas enviadas",
    skip: "Saltar al contenido",
    loading: "Cargando…",
    language: "Idioma",
    brandTagline: "Seguimiento de facturas",
    signOut: "Cerrar sesión",
    signInTitle: "Iniciar sesión",
    signInHelp:
      "Pega tu clave de API de Sobre. Solo se guarda en esta pestaña del navegador y se olvida al cerrarla o al cerrar sesión.",
    apiKey: "Clave de API",
    signIn: "Entrar",
    signingIn: "Entrando…",
    keyMissing: "Escribe tu clave de API.",
    keyRejected:
      "Esa clave de API no es válida. Comprueba que la pegaste completa o crea una nueva con «make api-key».",
    sessionExpired: "Tu clave de API ya no es válida. Vuelve a iniciar sesión.",
    signedOut: "Has cerrado la sesión. La clave se ha borrado de esta pestaña.",
    unreachable: "No se pudo conectar con la API de Sobre. Comprueba tu conexión y vuelve a intentarlo.",
    serverError: "La API de Sobre respondió con un error ({status}). Inténtalo de nuevo en un momento.",
    sentInvoices: "Facturas enviadas",
    updated: "Actualizado a las {time} · se actualiza cada 5 s",
    refreshFailed: "No se pudo actualizar a las {time}; se reintenta cada 5 s.",
    filter: "Mostrar",
    filterAll: "Todas",
    filterViewed: "Vistas por el cliente",
    filterUnopened: "Sin abrir",
    filterProblems: "Problemas",
    filterPaid: "Pagadas",
    searchLabel: "Buscar por número de factura",
    searchPlaceholder: "Número, o su comienzo",
    searchHint: "Encuentra todas las facturas cuyo número empieza por lo que escribas, cargadas o no.",
    searchCapped: "Se muestran las {count} primeras: escribe más del número para acotarlas.",
    searchFound: {
      one: "1 factura cuyo número empieza por «{query}»",
      other: "{count} facturas cuyo número empieza por «{query}»",
    },
    tableCaption:
      "Facturas enviadas, primero las que cambiaron más recientemente. Pulsa Intro en una fila para ver su detalle.",
    colActivity: "Actividad",
    colInvoice: "Factura",
    colCustomer: "Cliente",
    colTotal: "Total",
    colSent: "Enviada",
    colStatus: "Estado",
    loadMore: "Cargar más",
    loadingMore: "Cargando…",
    shown: { one: "{count} factura mostrada", other: "{count} facturas mostradas" },
    shownAll: { one: "{count} factura, todas cargadas", other: "{count} facturas, todas cargadas" },
    emptyAll: "Aún no hay facturas. Las que envíes con POST /invoices aparecerán aquí.",
    emptyFilter: "No hay facturas en esta vista.",
    emptySearch: "Ningún número de factura empieza por «{query}».",
    emptySearchFilter: "Ninguna factura de esta vista tiene un número que empiece por «{query}».",
    notSent: "Sin enviar",
    rowHint: "Ver el detalle de la factura {number}",
    iconOpened: "Abierta por una persona (primera apertura: {time})",
    iconNotOpened: "Aún no la ha abierto ninguna persona",
    iconMachineOnly:
      "Solo la descargó una máquina (precarga de privacidad o escáner); no cuenta como abierta",
    iconViewed: "Vista en línea",
    iconProblem: {
      one: "1 destinatario tiene un problema (rebote, queja o fallo)",
      other: "{count} destinatarios tienen un problema (rebote, queja o fallo)",
    },
    status: {
      pending: "Pendiente",
      queued: "En cola",
      failed: "Fallida",
      sent: "Enviada",
      delivered: "Entregada",
      opened: "Abierta",
      viewed: "Vista en línea",
      rejected: "Rechazada",
      bounced: "Rebotada",
      complained: "Queja",
    },
    navLabel: "Secciones",
    navInvoices: "Facturas",
    navSettings: "Ajustes",
    payment: { unpaid: "Sin pagar", paid: "Pagada", void: "Anulada" },
    paymentHeading: "Pago",
    unpaidNote: "No está marcada como pagada. Los recordatorios se envían mientras no lo esté.",
    paidAt: "Pagada",
    paidAmount: "Importe",
    paidReference: "Referencia",
    voidedAt: "Anulada",
    voidReason: "Motivo",
    markPaid: "Marcar como pagada",
    voidInvoice: "Anular",
    confirmPaid: "¿Marcar la factura {number} como pagada ({amount} si no indicas otro importe)? Después no se envían recordatorios.",
    confirmVoid: "¿Anular la factura {number}? Después no se podrá pagar ni se enviarán recordatorios.",
    referenceHint: "Opcional: la referencia de la transferencia o del recibo.",
    amountHint: "Opcional: déjalo vacío para el total, {total} {currency}.",
    reasonHint: "Opcional: por qué se anula.",
    confirmPaidButton: "Confirmar: marcar como pagada",
    confirmVoidButton: "Confirmar: anular",
    cancel: "Cancelar",
    saving: "Guardando…",
    markedPaid: "Marcada como pagada.",
    markedVoid: "Anulada.",
    payConflict: "Esta factura no se puede marcar como pagada: está anulada o ya se pagó con otros datos.",
    voidConflict: "Una factura pagada no se puede anular.",
    payFailed: "No se marcó como pagada: {message}",
    voidFailed: "No se anuló: {message}",
    checkFields: "revisa los campos marcados abajo.",
    addRecipientHeading: "Añadir un destinatario",
    addRecipientHelp: "Envía ahora esta factura a otra dirección (tras un rebote, por ejemplo), con su propio seguimiento.",
    recipientEmail: "Correo electrónico",
    recipientName: "Nombre",
    optional: "Opcional.",
    addRecipient: "Añadir y enviar",
    emailMissing: "Escribe una dirección de correo.",
    recipientAdded: "En cola para {email}: sale en un momento.",
    recipientFailed: "Se añadió {email}, pero el envío falló.",
    addFailed: "No se añadió: {message}",
    alreadyRecipient: "Esa dirección ya recibe esta factura.",
    settingsTitle: "Ajustes",
    settingsHelp: "El remitente, los informes, los recordatorios y el seguimiento de tu cuenta. Los cambios guardados se aplican al momento.",
    nextDigest: "Próximo resumen",
    nextDigestNone: "Ninguno: los resúmenes van a la dirección de informes y no hay ninguna.",
    settingsSave: "Guardar los ajustes",
    settingsSaved: "Ajustes guardados.",
    settingsUnchanged: "No cambió nada, así que no se guardó nada.",
    settingsInvalid: {
      one: "No se guardó: hay que corregir 1 ajuste (marcado abajo).",
      other: "No se guardó: hay que corregir {count} ajustes (marcados abajo).",
    },
    settingsFailed: "No se guardó: {message}",
    settingsGroup: {
      sender: "Remitente",
      reports: "Informes y alertas",
      reminders: "Recordatorios",
      tracking: "Seguimiento y conservación",
    },
    setting: {
      name: "Nombre del remitente",
      from_address: "Dirección del remitente",
      reply_to: "Dirección de respuesta",
      report_address: "Dirección de informes",
      time_zone: "Zona horaria",
      locale: "Configuración regional de los correos",
      tracking: "Seguir las aperturas",
      retention_days: "Conservar las facturas (días)",
      digest_when_quiet: "Enviar el resumen también los días sin novedades",
      unopened_after_days: "Avisar de las no abiertas tras (días)",
      reminders: "Enviar recordatorios",
      reminder_after_days: "Recordar tras (días)",
      reminder_max: "Recordatorios como máximo",
      alert_emails: "Correos de alerta",
    },
    settingHint: {
      name: "Aparece en cada correo e informe; de 1 a 200 caracteres.",
      from_address: "Una dirección verificada por tu servicio de correo.",
      reply_to: "Opcional: adónde van las respuestas de tus clientes.",
      report_address: "Adónde van el resumen diario y los correos de alerta. Vacía: no se envían.",
      time_zone: "Una zona horaria IANA como Europe/Madrid: el resumen sale a las 07:00 en ella.",
      locale: "El idioma de los correos de tus facturas cuando la factura no lo indica.",
      tracking: "Añade a tus correos la imagen que registra las aperturas.",
      retention_days: "De 1 a 3650 días. Vacío: el valor por defecto de Sobre.",
      digest_when_quiet: "Si no, un día sin nada que contar no se envía nada.",
      unopened_after_days: "El resumen enumera las facturas entregadas y sin abrir tras este tiempo: de 1 a 90 días.",
      reminders: "Recuerda a los clientes las facturas sin pagar que no han abierto.",
      reminder_after_days: "De 1 a 60 días.",
      reminder_max: "De 0 a 10 por factura.",
      alert_emails: "Avisa a la dirección de informes de cada apertura, visualización, rebote y queja.",
    },
    localeName: { en: "Inglés", es: "Español" },
    invoice: "Factura",
    closeDetails: "Cerrar el detalle",
    due: "Vence el {date}",
    detailLoading: "Cargando la factura…",
    detailFailed: "No se pudo cargar esta factura: {message}",
    notFound: "Esta factura ya no existe en tu cuenta.",
    opensHeading: "Aperturas",
    opensByPerson: {
      one: "Abierta una vez por una persona",
      other: "Abierta {count} veces por una persona",
    },
    notOpened: "Aún no la ha abierto ninguna persona",
    firstOpened: "Primera apertura",
    lastOpened: "Última apertura",
    firstOpenedBy: "Quién la abrió primero",
    machineOpens: "Aperturas automáticas",
    machineOpensValue: {
      one: "1, no cuenta (precarga de privacidad o escáner)",
      other: "{count}, no cuentan (precargas de privacidad y escáneres)",
    },
    viewedOnline: "Vista en línea",
    sentAt: "Enviada",
    deliveredAt: "Entregada",
    problems: "Problemas",
    problemsValue: { one: "1 destinatario", other: "{count} destinatarios" },
    notYet: "Todavía no",
    none: "Ninguno",
    timesIn: "Horas en tu zona horaria ({zone}).",
    resendHelp: {
      one: "No se pudo enviar a 1 destinatario.",
      other: "No se pudo enviar a {count} destinatarios.",
    },
    resend: "Reenviar a los destinatarios fallidos",
    resending: "Enviando…",
    resent: { one: "En cola de nuevo para 1 destinatario.", other: "En cola de nuevo para {count} destinatarios." },
    resendStillFailed: {
      one: "1 destinatario sigue fallando: {reasons}",
      other: "{count} destinatarios siguen fallando: {reasons}",
    },
    resendError: "No se pudo reenviar: {message}",
    recipientsHeading: "Destinatarios",
    colRecipient: "Destinatario",
    colOpens: "Aperturas",
    colFirstOpened: "Primera apertura",
    colLastOpened: "Última apertura",
    colMachineOpens: "Aperturas automáticas",
    bounceInfo: "Rebote: {type} {subtype}",
    complaintInfo: "Queja: {type}",
    rejectionInfo: "Rechazada: {reason}",
    failureInfo: "Último fallo: {reason}",
    timelineHeading: "Cronología",
    timelineLabel: "Cronología del {start} al {end}: {opens}, {machine}, {problems}. El historial de eventos de abajo los enumera todos.",
    timelineLabelLatest:
      "Cronología de los últimos {shown} eventos, del {start} al {end}: {opens}, {machine}, {problems}. El historial de eventos de abajo los enumera; los anteriores no se muestran.",
    eventsTruncated: {
      one: "La cronología y el historial solo muestran el último evento.",
      other: "La cronología y el historial solo muestran los últimos {shown} eventos.",
    },
    eventsTruncatedTotals: "En total: {opens}, {machine}.",
    totalOpens: { one: "{shown} apertura por una persona", other: "{shown} aperturas por una persona" },
    totalMachine: { one: "{shown} apertura automática", other: "{shown} aperturas automáticas" },
    chartOpens: { one: "1 apertura por una persona", other: "{count} aperturas por una persona" },
    chartMachine: { one: "1 apertura automática", other: "{count} aperturas automáticas" },
    chartProblems: { one: "1 problema", other: "{count} problemas" },
    invoiceLane: "Factura",
    legend: {
      sent: "Creada o enviada",
      delivery: "Entregada",
      person: "Abierta por una persona",
      machine: "Descarga automática",
      viewed: "Vista en línea",
      link: "Enlace o página descargados",
      problem: "Problema",
      other: "Otro",
    },
    historyHeading: "Historial de eventos",
    historyNote: "Primero los más recientes.",
    noEvents: "Aún no hay eventos.",
    event: {
      created: "Factura creada",
      sent: "Enviada",
      send: "Aceptada por SES",
      send_failed: "Falló el envío",
      delivery: "Entregada",
      open: "Abierta",
      click: "Clic en un enlace",
      bounce: "Rebotada",
      complaint: "Marcada como spam",
      reject: "Rechazada por SES",
      delivery_delay: "Entrega retrasada",
      rendering_failure: "Falló la composición",
      subscription: "Cambio de suscripción",
      view: "Factura en línea descargada",
      viewed: "Vista en línea",
    },
    verdict: {
      human: "Persona",
      proxy: "Persona (proxy de imágenes del webmail)",
      privacy_prefetch: "Precarga de privacidad de Apple Mail",
      scanner: "Escáner",
      sender: "Tu propia vista previa",
      unknown: "Desconocido",
    },
    verdictLabel: "Veredicto",
    reasonsLabel: "Motivos",
    notCounted: "Repite una apertura ya contada",
    source: { api: "Sobre", ses: "SES", pixel: "Seguimiento" },
    reason: {
      "sender-preview": "vista previa de la propia cuenta",
      "method:head": "petición HEAD (solo cabeceras)",
      "ua:apple-mail-privacy-protection": "Protección de privacidad de Apple Mail",
      "ua:image-proxy": "proxy de imágenes: {name}",
      "ua:scanner": "escáner: {name}",
      "ua:missing": "sin agente de usuario",
      "ua:bot": "rastreador o bot",
      "ua:client": "cliente de correo o navegador: {name}",
      "ua:unrecognised": "agente de usuario desconocido",
      "net": "red: {name}",
      burst: "{name} enlaces descargados a la vez",
      "timing:too-fast": "demasiado pronto tras la entrega",
      "first-fetch": "primera descarga",
      "repeat-fetch": "descarga repetida",
      "after-delivery": "{name} después de la entrega",
      "after-send": "{name} después del envío",
    },
  },
};

let language = "en";

/** The language to start with: the saved choice, else the browser's, else English. */
export function initialLanguage() {
  let saved = null;
  try {
    saved = localStorage.getItem(LANGUAGE_KEY);
  } catch {
    saved = null; // storage disabled: fall back to the browser's languages
  }
  if (LANGUAGES.includes(saved)) return saved;
  for (const tag of navigator.languages?.length ? navigator.languages : [navigator.language]) {
    const base = String(tag || "").toLowerCase().split("-")[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return "en";
}

export function setLanguage(next, remember = false) {
  language = LANGUAGES.includes(next) ? next : "en";
  document.documentElement.lang = language;
  if (remember) {
    try {
      localStorage.setItem(LANGUAGE_KEY, language);
    } catch {
      // not remembered; the choice still applies to this page
    }
  }
  formatters.clear();
}

export function currentLanguage() {
  return language;
}

/** The locale for Intl: the browser's own tag when it is of this language (es-MX keeps
 * its region's formats), else the bare language. */
export function locale() {
  const tags = navigator.languages?.length ? navigator.languages : [navigator.language];
  return tags.find((tag) => String(tag).toLowerCase().split("-")[0] === language) || language;
}

function lookup(key) {
  let value = MESSAGES[language];
  let fallback = MESSAGES.en;
  for (const part of key.split(".")) {
    value = value?.[part];
    fallback = fallback?.[part];
  }
  return value ?? fallback;
}

/** The message ``key`` (dotted for nested ones) with its {placeholders} filled in. */
export function t(key, params = {}) {
  let message = lookup(key);
  if (message && typeof message === "object") {
    const count = Number(params.count ?? 0);
    const form = cached("plural", () => new Intl.PluralRules(locale())).select(count);
    message = message[form] ?? message.other;
  }
  if (typeof message !== "string") return key;
  return message.replace(/\{(\w+)\}/g, (whole, name) =>
    name in params ? String(params[name]) : whole,
  );
}

export function has(key) {
  return typeof lookup(key) === "string";
}

/** Translates the static page: textContent of [data-i18n], placeholder of
 * [data-i18n-placeholder], aria-label of [data-i18n-label]. */
export function translatePage(root = document) {
  for (const element of root.querySelectorAll("[data-i18n]")) {
    element.textContent = t(element.dataset.i18n);
  }
  for (const element of root.querySelectorAll("[data-i18n-placeholder]")) {
    element.placeholder = t(element.dataset.i18nPlaceholder);
  }
  for (const element of root.querySelectorAll("[data-i18n-label]")) {
    element.setAttribute("aria-label", t(element.dataset.i18nLabel));
  }
  document.title = t("documentTitle");
}

// -- formatting -------------------------------------------------------------------------

const formatters = new Map();

function cached(name, make) {
  if (!formatters.has(name)) formatters.set(name, make());
  return formatters.get(name);
}

export function money(amount, currency) {
  try {
    const format = cached(
      `money:${currency}`,
      () => new Intl.NumberFormat(locale(), { style: "currency", currency }),
    );
    return format.format(amount); // a decimal string is formatted exactly
  } catch {
    return `${amount} ${currency}`;
  }
}

export function number(value) {
  return cached("number", () => new Intl.NumberFormat(locale())).format(value);
}

/** A date and time in the viewer's time zone. */
export function dateTime(iso, withSeconds = false) {
  if (!iso) return "";
  const style = withSeconds ? "medium" : "short";
  return cached(
    `dateTime:${style}`,
    () => new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: style }),
  ).format(new Date(iso));
}

export function time(iso, withSeconds = true) {
  return cached(
    `time:${withSeconds}`,
    () => new Intl.DateTimeFormat(locale(), { timeStyle: withSeconds ? "medium" : "short" }),
  ).format(new Date(iso));
}

/** A calendar date (YYYY-MM-DD) as written, whatever the viewer's time zone. */
export function calendarDate(day) {
  if (!day) return "";
  return cached(
    "calendarDate",
    () => new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeZone: "UTC" }),
  ).format(new Date(`${day}T00:00:00Z`));
}

const UNITS = [
  ["year", 365 * 24 * 3600],
  ["month", 30 * 24 * 3600],
  ["week", 7 * 24 * 3600],
  ["day", 24 * 3600],
  ["hour", 3600],
  ["minute", 60],
  ["second", 1],
];

/** "2 hours ago", "hace 5 minutos", "now". */
export function relative(iso, now = Date.now()) {
  if (!iso) return "";
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  const format = cached(
    "relative",
    () => new Intl.RelativeTimeFormat(locale(), { numeric: "auto" }),
  );
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size || unit === "second") {
      const value = Math.abs(seconds) < 10 && unit === "second" ? 0 : Math.round(seconds / size);
      return format.format(value, unit);
    }
  }
  return "";
}

export function timeZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/** A reason code from the open classifier, in words ("after-delivery:7s" → "7 s after
 * delivery"); unknown codes are shown as they are. */
export function reason(code) {
  if (has(`reason.${code}`)) return t(`reason.${code}`);
  const cut = code.lastIndexOf(":");
  if (cut > 0) {
    const head = code.slice(0, cut);
    let name = code.slice(cut + 1);
    if (/^\d+s$/.test(name)) name = duration(Number(name.slice(0, -1)));
    const key = `reason.${head}`;
    if (has(key)) return t(key, { name });
    // "ua:client:browser" is head "ua:client"; "net:microsoft" is head "net".
  }
  return code;
}

function duration(totalSeconds) {
  const units = [
    ["day", 86400],
    ["hour", 3600],
    ["minute", 60],
    ["second", 1],
  ];
  for (const [unit, size] of units) {
    if (totalSeconds >= size || unit === "second") {
      const value = Math.floor(totalSeconds / size);
      return cached(
        `duration:${unit}`,
        () => new Intl.NumberFormat(locale(), { style: "unit", unit, unitDisplay: "short" }),
      ).format(value);
    }
  }
  return String(totalSeconds);
}
