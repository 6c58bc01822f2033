/** Word lists the generators draw from. Domains are reserved example domains, so no real address is produced. */

export const FIRST_NAMES = [
  'Sarah',
  'James',
  'Maria',
  'David',
  'Emma',
  'Liam',
  'Olivia',
  'Noah',
  'Ava',
  'Lucas',
  'Mia',
  'Ethan',
  'Chloe',
  'Mason',
  'Sofia',
  'Logan',
  'Isabella',
  'Elijah',
  'Amelia',
  'Aiden',
  'Harper',
  'Jackson',
  'Zoe',
  'Leo',
  'Grace',
  'Mateo',
  'Hannah',
  'Owen',
  'Lily',
  'Samuel',
  'Nora',
  'Daniel',
  'Aria',
  'Henry',
  'Ella',
  'Gabriel',
  'Layla',
  'Julian',
  'Riley',
  'Isaac',
  'Camila',
  'Levi',
  'Priya',
  'Arjun',
  'Mei',
  'Hiroshi',
  'Fatima',
  'Omar',
  'Ingrid',
  'Lars',
  'Chiara',
  'Luca',
  'Amara',
  'Kwame',
  'Siobhan',
  'Declan',
  'Renée',
  'José',
  'Zoë',
  'Björn',
];

export const LAST_NAMES = [
  'Mason',
  'Smith',
  'Johnson',
  'Williams',
  'Brown',
  'Jones',
  'Garcia',
  'Miller',
  'Davis',
  'Rodriguez',
  'Martinez',
  'Hernandez',
  'Lopez',
  'Gonzalez',
  'Wilson',
  'Anderson',
  'Thomas',
  'Taylor',
  'Moore',
  'Jackson',
  'Martin',
  'Lee',
  'Perez',
  'Thompson',
  'White',
  'Harris',
  'Sanchez',
  'Clark',
  'Ramirez',
  'Lewis',
  'Robinson',
  'Walker',
  'Young',
  'Allen',
  'King',
  'Wright',
  'Scott',
  'Nguyen',
  'Patel',
  'Kim',
  'Chen',
  'Müller',
  'Schmidt',
  'Rossi',
  'Dubois',
  "O'Brien",
  'Kowalski',
  'Andersson',
  'Okafor',
  'Tanaka',
  'Silva',
  'Murphy',
  'Campbell',
  'Fischer',
  'Moreau',
];

export const EMAIL_DOMAINS = ['example.com', 'example.net', 'example.org', 'klaviyo-demo.com', 'mail.example.com'];

export const ORGANIZATIONS = [
  'Example Corporation',
  'Northwind Traders',
  'Contoso Ltd',
  'Acme Outfitters',
  'Globex',
  'Initech',
  'Umbrella Retail',
  'Blue Harbor Studio',
  'Summit Analytics',
  'Pine & Co',
  'Redwood Health',
  'Brightside Media',
];

export const JOB_TITLES = [
  'Regional Manager',
  'Software Engineer',
  'Teacher',
  'Nurse',
  'Designer',
  'Marketing Lead',
  'Student',
  'Founder',
  'Accountant',
  'Chef',
  'Product Manager',
  'Photographer',
];

export interface Place {
  city: string;
  region: string;
  country: string;
  /** ISO 3166 alpha-2, for locale and phone number. */
  code: 'US' | 'CA' | 'GB' | 'AU' | 'DE' | 'FR';
  zip: string;
  timezone: string;
  latitude: number;
  longitude: number;
  /** US/CA area code; unused elsewhere. */
  area: string;
  streets: readonly string[];
}

export const PLACES: readonly Place[] = [
  {
    city: 'New York',
    region: 'NY',
    country: 'United States',
    code: 'US',
    zip: '10017',
    timezone: 'America/New_York',
    latitude: 40.7128,
    longitude: -74.006,
    area: '212',
    streets: ['E 42nd St', 'Broadway', 'Lexington Ave'],
  },
  {
    city: 'Brooklyn',
    region: 'NY',
    country: 'United States',
    code: 'US',
    zip: '11201',
    timezone: 'America/New_York',
    latitude: 40.6782,
    longitude: -73.9442,
    area: '718',
    streets: ['Atlantic Ave', 'Court St'],
  },
  {
    city: 'Boston',
    region: 'MA',
    country: 'United States',
    code: 'US',
    zip: '02115',
    timezone: 'America/New_York',
    latitude: 42.3601,
    longitude: -71.0589,
    area: '617',
    streets: ['Boylston St', 'Newbury St'],
  },
  {
    city: 'Chicago',
    region: 'IL',
    country: 'United States',
    code: 'US',
    zip: '60601',
    timezone: 'America/Chicago',
    latitude: 41.8781,
    longitude: -87.6298,
    area: '312',
    streets: ['N Michigan Ave', 'W Randolph St'],
  },
  {
    city: 'Austin',
    region: 'TX',
    country: 'United States',
    code: 'US',
    zip: '78701',
    timezone: 'America/Chicago',
    latitude: 30.2672,
    longitude: -97.7431,
    area: '512',
    streets: ['Congress Ave', 'E 6th St'],
  },
  {
    city: 'Denver',
    region: 'CO',
    country: 'United States',
    code: 'US',
    zip: '80202',
    timezone: 'America/Denver',
    latitude: 39.7392,
    longitude: -104.9903,
    area: '303',
    streets: ['Larimer St', '16th St Mall'],
  },
  {
    city: 'Seattle',
    region: 'WA',
    country: 'United States',
    code: 'US',
    zip: '98101',
    timezone: 'America/Los_Angeles',
    latitude: 47.6062,
    longitude: -122.3321,
    area: '206',
    streets: ['Pike St', '1st Ave'],
  },
  {
    city: 'San Francisco',
    region: 'CA',
    country: 'United States',
    code: 'US',
    zip: '94103',
    timezone: 'America/Los_Angeles',
    latitude: 37.7749,
    longitude: -122.4194,
    area: '415',
    streets: ['Market St', 'Valencia St'],
  },
  {
    city: 'Los Angeles',
    region: 'CA',
    country: 'United States',
    code: 'US',
    zip: '90012',
    timezone: 'America/Los_Angeles',
    latitude: 34.0522,
    longitude: -118.2437,
    area: '213',
    streets: ['Sunset Blvd', 'S Spring St'],
  },
  {
    city: 'Miami',
    region: 'FL',
    country: 'United States',
    code: 'US',
    zip: '33130',
    timezone: 'America/New_York',
    latitude: 25.7617,
    longitude: -80.1918,
    area: '305',
    streets: ['Brickell Ave', 'Collins Ave'],
  },
  {
    city: 'Atlanta',
    region: 'GA',
    country: 'United States',
    code: 'US',
    zip: '30303',
    timezone: 'America/New_York',
    latitude: 33.749,
    longitude: -84.388,
    area: '404',
    streets: ['Peachtree St', 'Edgewood Ave'],
  },
  {
    city: 'Portland',
    region: 'OR',
    country: 'United States',
    code: 'US',
    zip: '97205',
    timezone: 'America/Los_Angeles',
    latitude: 45.5152,
    longitude: -122.6784,
    area: '503',
    streets: ['SW Morrison St', 'NW 23rd Ave'],
  },
  {
    city: 'Toronto',
    region: 'ON',
    country: 'Canada',
    code: 'CA',
    zip: 'M5V 2T6',
    timezone: 'America/Toronto',
    latitude: 43.6532,
    longitude: -79.3832,
    area: '416',
    streets: ['King St W', 'Queen St W'],
  },
  {
    city: 'Vancouver',
    region: 'BC',
    country: 'Canada',
    code: 'CA',
    zip: 'V6B 1A1',
    timezone: 'America/Vancouver',
    latitude: 49.2827,
    longitude: -123.1207,
    area: '604',
    streets: ['Granville St', 'Robson St'],
  },
  {
    city: 'Montréal',
    region: 'QC',
    country: 'Canada',
    code: 'CA',
    zip: 'H2X 1Y4',
    timezone: 'America/Toronto',
    latitude: 45.5017,
    longitude: -73.5673,
    area: '514',
    streets: ['Rue Sainte-Catherine', 'Boulevard Saint-Laurent'],
  },
  {
    city: 'London',
    region: 'England',
    country: 'United Kingdom',
    code: 'GB',
    zip: 'EC1A 1BB',
    timezone: 'Europe/London',
    latitude: 51.5072,
    longitude: -0.1276,
    area: '',
    streets: ['Oxford St', 'Baker St', 'Old Kent Rd'],
  },
  {
    city: 'Manchester',
    region: 'England',
    country: 'United Kingdom',
    code: 'GB',
    zip: 'M1 1AE',
    timezone: 'Europe/London',
    latitude: 53.4808,
    longitude: -2.2426,
    area: '',
    streets: ['Deansgate', 'Oldham St'],
  },
  {
    city: 'Edinburgh',
    region: 'Scotland',
    country: 'United Kingdom',
    code: 'GB',
    zip: 'EH1 1YZ',
    timezone: 'Europe/London',
    latitude: 55.9533,
    longitude: -3.1883,
    area: '',
    streets: ['Princes St', 'Royal Mile'],
  },
  {
    city: 'Sydney',
    region: 'NSW',
    country: 'Australia',
    code: 'AU',
    zip: '2000',
    timezone: 'Australia/Sydney',
    latitude: -33.8688,
    longitude: 151.2093,
    area: '',
    streets: ['George St', 'Pitt St'],
  },
  {
    city: 'Melbourne',
    region: 'VIC',
    country: 'Australia',
    code: 'AU',
    zip: '3000',
    timezone: 'Australia/Melbourne',
    latitude: -37.8136,
    longitude: 144.9631,
    area: '',
    streets: ['Collins St', 'Flinders Ln'],
  },
  {
    city: 'Berlin',
    region: 'Berlin',
    country: 'Germany',
    code: 'DE',
    zip: '10115',
    timezone: 'Europe/Berlin',
    latitude: 52.52,
    longitude: 13.405,
    area: '',
    streets: ['Torstraße', 'Friedrichstraße'],
  },
  {
    city: 'München',
    region: 'Bayern',
    country: 'Germany',
    code: 'DE',
    zip: '80331',
    timezone: 'Europe/Berlin',
    latitude: 48.1351,
    longitude: 11.582,
    area: '',
    streets: ['Maximilianstraße', 'Leopoldstraße'],
  },
  {
    city: 'Paris',
    region: 'Île-de-France',
    country: 'France',
    code: 'FR',
    zip: '75001',
    timezone: 'Europe/Paris',
    latitude: 48.8566,
    longitude: 2.3522,
    area: '',
    streets: ['Rue de Rivoli', 'Rue Oberkampf'],
  },
  {
    city: 'Lyon',
    region: 'Auvergne-Rhône-Alpes',
    country: 'France',
    code: 'FR',
    zip: '69002',
    timezone: 'Europe/Paris',
    latitude: 45.764,
    longitude: 4.8357,
    area: '',
    streets: ['Rue de la République', 'Quai Saint-Antoine'],
  },
];

/** Most profiles in a typical Klaviyo account are in the US; the weights pick PLACES by index. */
export const PLACE_WEIGHTS = PLACES.map((p) => (p.code === 'US' ? 6 : p.code === 'GB' || p.code === 'CA' ? 3 : 2));

export const LOCALES: Record<Place['code'], readonly string[]> = {
  US: ['en-US', 'es-US'],
  CA: ['en-CA', 'fr-CA'],
  GB: ['en-GB'],
  AU: ['en-AU'],
  DE: ['de-DE'],
  FR: ['fr-FR'],
};

/** E.164 prefix and number of subscriber digits after it, per country (mobile ranges). */
export const PHONE_PLANS: Record<Place['code'], { prefix: string; digits: number }> = {
  US: { prefix: '+1', digits: 7 },
  CA: { prefix: '+1', digits: 7 },
  GB: { prefix: '+447', digits: 9 },
  AU: { prefix: '+614', digits: 8 },
  DE: { prefix: '+49151', digits: 8 },
  FR: { prefix: '+336', digits: 8 },
};

export const PROFILE_SOURCES = ['Shopify', 'Signup Form', 'CSV Import', 'API', 'Checkout', 'Pop-up'];
export const LOYALTY_TIERS = ['Bronze', 'Silver', 'Gold', 'Platinum'];
export const SIZES = ['XS', 'S', 'M', 'L', 'XL'];
export const INTERESTS = ['outdoors', 'running', 'home', 'skincare', 'coffee', 'travel', 'yoga', 'cycling', 'baking'];
export const SHOPIFY_TAGS = ['wholesale', 'vip', 'newsletter', 'returning', 'first-order-discount', 'influencer'];

export const EMAIL_METHODS = ['FORM', 'API', 'PREFERENCE_PAGE', 'IMPORT', 'SHOPIFY_INTEGRATION', 'MANUAL_ADD', 'BACK_IN_STOCK'];
export const SMS_METHODS = ['FORM', 'TEXT', 'CHECKOUT', 'API', 'SHOPIFY_INTEGRATION'];
export const SUPPRESSION_REASONS = ['HARD_BOUNCE', 'INVALID_EMAIL', 'SPAM_COMPLAINT', 'UNSUBSCRIBE', 'USER_SUPPRESSED'] as const;

export const LIST_NAMES = [
  'Newsletter',
  'VIP Customers',
  'Preview List',
  'Sample Data List',
  'Holiday Sweepstakes',
  'SMS Subscribers',
  'Back in Stock Waitlist',
  'Wholesale Inquiries',
  'Event Attendees',
  'Pop-up Signups',
  'Loyalty Members',
  'Early Access',
  'Product Launch Waitlist',
  'Retail Store Signups',
  'Survey Respondents',
  'Referral Program',
];

export const SEGMENT_NAMES = [
  'Engaged (90 days)',
  'Repeat Purchasers',
  'Lapsed Customers',
  'Potential Purchasers',
  'High CLV',
  'Churn Risk',
  'US Subscribers',
  'Gold Tier',
  'Never Opened',
  'Cart Abandoners',
  'Email Subscribers',
  'EU Profiles',
  'New Subscribers (30 days)',
  'Window Shoppers',
  'SMS Engaged',
];

export const CAMPAIGN_THEMES = [
  'Spring Sale',
  'Summer Collection',
  'Back to School',
  'Black Friday',
  'Cyber Monday',
  'Holiday Gift Guide',
  'New Arrivals',
  'Weekly Newsletter',
  'Flash Sale',
  'Free Shipping Weekend',
  'Loyalty Rewards',
  'Restock Alert',
  'Customer Stories',
  'End of Season Clearance',
  "Valentine's Day",
  "Mother's Day",
  'Product Launch',
  'VIP Early Access',
];

export const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

export const FLOW_KINDS: ReadonlyArray<{
  name: string;
  trigger: 'Added to List' | 'Date Based' | 'Low Inventory' | 'Metric' | 'Price Drop' | 'Unconfigured';
}> = [
  { name: 'Welcome Series', trigger: 'Added to List' },
  { name: 'Abandoned Cart Reminder', trigger: 'Metric' },
  { name: 'Browse Abandonment', trigger: 'Metric' },
  { name: 'Post-Purchase Thank You', trigger: 'Metric' },
  { name: 'Customer Winback', trigger: 'Metric' },
  { name: 'Birthday Reward', trigger: 'Date Based' },
  { name: 'Price Drop Alert', trigger: 'Price Drop' },
  { name: 'Low Inventory Alert', trigger: 'Low Inventory' },
  { name: 'Back in Stock', trigger: 'Metric' },
  { name: 'Sunset Unengaged Subscribers', trigger: 'Metric' },
  { name: 'VIP Onboarding', trigger: 'Added to List' },
  { name: 'Replenishment Reminder', trigger: 'Date Based' },
  { name: 'Cross-Sell Follow-up', trigger: 'Metric' },
  { name: 'Draft Flow', trigger: 'Unconfigured' },
];

export const TEMPLATE_KINDS = [
  'Newsletter',
  'Welcome Email',
  'Abandoned Cart',
  'Order Confirmation',
  'Shipping Update',
  'Product Spotlight',
  'Sale Announcement',
  'Winback Offer',
  'Review Request',
  'Birthday Email',
  'Back in Stock',
  'Event Invite',
];

export const EDITOR_TYPES = ['SYSTEM_DRAGGABLE', 'SYSTEM_DRAGGABLE', 'SYSTEM_DRAGGABLE', 'CODE', 'SIMPLE', 'USER_DRAGGABLE'];

export const TAG_GROUPS = [
  { name: 'Default', exclusive: false, default: true },
  { name: 'Season', exclusive: true, default: false },
  { name: 'Channel', exclusive: false, default: false },
  { name: 'Team', exclusive: false, default: false },
];

export const TAG_WORDS: readonly (readonly string[])[] = [
  ['Promo', 'Newsletter', 'Welcome', 'Winback', 'VIP', 'Abandoned Cart', 'Product Launch', 'Evergreen', 'Test', 'Loyalty'],
  ['Spring', 'Summer', 'Fall', 'Winter', 'Holiday', 'Black Friday', 'Cyber Monday', 'Back to School'],
  ['Email', 'SMS', 'Push', 'Omnichannel'],
  ['Growth', 'Retention', 'Brand', 'Lifecycle', 'Merchandising'],
];

export const PRODUCT_ADJECTIVES = [
  'Ocean Blue',
  'Classic',
  'Everyday',
  'Vintage',
  'Organic',
  'Lightweight',
  'Cozy',
  'Slim Fit',
  'Heritage',
  'Midnight',
  'Sunset',
  'Alpine',
  'Urban',
  'Coastal',
];
export const PRODUCT_MATERIALS = ['Cotton', 'Linen', 'Wool', 'Leather', 'Canvas', 'Bamboo', 'Ceramic', 'Denim', 'Merino', 'Recycled'];
export const PRODUCT_CATEGORIES: ReadonlyArray<{ name: string; products: readonly string[] }> = [
  { name: 'Tops', products: ['Shirt', 'Tee', 'Sweater', 'Hoodie', 'Blouse'] },
  { name: 'Bottoms', products: ['Jeans', 'Chinos', 'Shorts', 'Skirt'] },
  { name: 'Outerwear', products: ['Jacket', 'Parka', 'Vest', 'Raincoat'] },
  { name: 'Footwear', products: ['Sneakers', 'Boots', 'Sandals', 'Loafers'] },
  { name: 'Accessories', products: ['Tote Bag', 'Beanie', 'Scarf', 'Wallet', 'Belt'] },
  { name: 'Home', products: ['Mug', 'Throw Blanket', 'Candle', 'Planter', 'Cushion'] },
  { name: 'Beauty', products: ['Face Serum', 'Lip Balm', 'Body Wash', 'Hand Cream'] },
  { name: 'Kitchen', products: ['Pour-Over Kettle', 'Chef Knife', 'Cutting Board', 'Coffee Beans'] },
];

export const SHOP_URL = 'https://shop.example.com';
export const IMAGE_URL = 'https://cdn.example.com/images';

/** The kinds of metric an event can be, which decide its event_properties. */
export type MetricKind =
  'order' | 'ordered_product' | 'fulfilled' | 'product_view' | 'cart' | 'checkout' | 'site' | 'email' | 'sms' | 'push' | 'list' | 'custom';

export interface Integration {
  object: 'integration';
  id: string;
  key: string;
  name: string;
  category: string;
}

export const INTEGRATIONS: Record<'klaviyo' | 'shopify' | 'api', Integration> = {
  klaviyo: { object: 'integration', id: '0rG4eQ', key: 'klaviyo', name: 'Klaviyo', category: 'Internal' },
  shopify: { object: 'integration', id: '0eMvjm', key: 'shopify', name: 'Shopify', category: 'eCommerce' },
  api: { object: 'integration', id: '7FtS4J', key: 'api', name: 'API', category: 'API' },
};

/** Ordered by importance: a small account keeps the first N. `weight` is the metric's share of event volume. */
export const METRIC_DEFS: ReadonlyArray<{ name: string; integration: keyof typeof INTEGRATIONS; kind: MetricKind; weight: number }> = [
  { name: 'Placed Order', integration: 'shopify', kind: 'order', weight: 4 },
  { name: 'Opened Email', integration: 'klaviyo', kind: 'email', weight: 14 },
  { name: 'Received Email', integration: 'klaviyo', kind: 'email', weight: 22 },
  { name: 'Clicked Email', integration: 'klaviyo', kind: 'email', weight: 5 },
  { name: 'Viewed Product', integration: 'api', kind: 'product_view', weight: 16 },
  { name: 'Active on Site', integration: 'api', kind: 'site', weight: 12 },
  { name: 'Added to Cart', integration: 'shopify', kind: 'cart', weight: 5 },
  { name: 'Started Checkout', integration: 'shopify', kind: 'checkout', weight: 3 },
  { name: 'Ordered Product', integration: 'shopify', kind: 'ordered_product', weight: 5 },
  { name: 'Subscribed to List', integration: 'klaviyo', kind: 'list', weight: 1.5 },
  { name: 'Unsubscribed', integration: 'klaviyo', kind: 'email', weight: 0.5 },
  { name: 'Received SMS', integration: 'klaviyo', kind: 'sms', weight: 4 },
  { name: 'Clicked SMS', integration: 'klaviyo', kind: 'sms', weight: 1 },
  { name: 'Fulfilled Order', integration: 'shopify', kind: 'fulfilled', weight: 3 },
  { name: 'Bounced Email', integration: 'klaviyo', kind: 'email', weight: 0.5 },
  { name: 'Marked Email as Spam', integration: 'klaviyo', kind: 'email', weight: 0.1 },
  { name: 'Received Push', integration: 'klaviyo', kind: 'push', weight: 1.5 },
  { name: 'Opened Push', integration: 'klaviyo', kind: 'push', weight: 0.6 },
  { name: 'Unsubscribed from List', integration: 'klaviyo', kind: 'list', weight: 0.3 },
  { name: 'Sent SMS', integration: 'klaviyo', kind: 'sms', weight: 0.8 },
  { name: 'Dropped Email', integration: 'klaviyo', kind: 'email', weight: 0.2 },
  { name: 'Cancelled Order', integration: 'shopify', kind: 'fulfilled', weight: 0.2 },
  { name: 'Refunded Order', integration: 'shopify', kind: 'fulfilled', weight: 0.2 },
  { name: 'Bounced Push', integration: 'klaviyo', kind: 'push', weight: 0.1 },
  { name: 'Submitted Review', integration: 'api', kind: 'custom', weight: 0.4 },
  { name: 'Redeemed Reward', integration: 'api', kind: 'custom', weight: 0.3 },
  { name: 'Joined Loyalty Program', integration: 'api', kind: 'custom', weight: 0.2 },
];

export const DISCOUNT_CODES = ['WELCOME10', 'SAVE15', 'FREESHIP', 'VIP20', 'BFCM25', 'SPRING10'];
export const BROWSERS = ['Chrome', 'Safari', 'Firefox', 'Edge', 'Samsung Internet'];
export const OPERATING_SYSTEMS = ['iOS', 'Android', 'Windows', 'macOS', 'Linux'];
export const EMAIL_CLIENTS = ['Gmail', 'Apple Mail', 'Outlook', 'Yahoo Mail', 'Superhuman'];
export const CARRIERS = ['Verizon', 'AT&T', 'T-Mobile', 'Vodafone', 'Telstra', 'Rogers'];
