// A Composer-style helper library (a test fixture written for Baton, not Genesys code).
function describe(value) {
    return value === undefined ? 'none' : String(value);
}
function pickQueue(language) {
    return language == 'fr' && true ? 'support-fr' : 'support-en';
}
